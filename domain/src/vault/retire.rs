//! Status changes that exchange nothing — promotion after verification, a failed verification,
//! supersede and revoke — made under an admin lease like every other write, so none of them can
//! race a refresh: a row under another holder's lease is waited for, and a row's token is read
//! under the lease that retires it (so it is the newest, not one rotated since it was read).

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Vault;
use super::lease::{Claim, Lease, Mark, Purpose};
use super::protocol::login_of;
use crate::entity::connection::{self, ConnectionStatus};
use crate::error::{Error, Result};
use crate::vault::store::aad;

/// What retiring a connection did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retired {
    /// Marked (superseded or revoked); `revoke` says what Salesforce answered.
    Done { revoke: String },
    /// It was already out of service.
    Already(ConnectionStatus),
}

impl Vault {
    /// Takes an admin lease on a connection, waiting for another holder's lease to end.
    /// `None`: the row is in a status `accept` refuses (returned so the caller can say so).
    pub(super) async fn admin_lease(
        &self,
        id: i64,
        accept: impl Fn(ConnectionStatus) -> bool,
    ) -> Result<std::result::Result<(connection::Model, Lease), ConnectionStatus>> {
        // Long enough for a live holder to finish or for a dead one's lease to run out.
        let give_up =
            tokio::time::Instant::now() + self.inner.opts.lease * 2 + Duration::from_secs(5);
        let lock = self.lock_for(id);
        let _guard = tokio::time::timeout_at(give_up, lock.lock())
            .await
            .map_err(|_| Error::Conflict(format!("connection {id} stayed busy")))?;
        loop {
            let c = self.reload(id).await?;
            if !accept(c.status) && c.status != ConnectionStatus::Refreshing {
                return Ok(Err(c.status));
            }
            match self.leases().claim(&c, Purpose::Admin, false).await? {
                Claim::Taken(lease) => {
                    if !accept(lease.resting) {
                        // It was `refreshing` for a dead holder and rests in a refused status.
                        self.leases()
                            .mark(
                                &lease,
                                Mark {
                                    status: lease.resting,
                                    error: None,
                                    sf_username: None,
                                    now: self.now(),
                                },
                            )
                            .await?;
                        return Ok(Err(lease.resting));
                    }
                    return Ok(Ok((c, lease)));
                }
                Claim::Moved | Claim::NotDue => {}
                Claim::Held { until } => {
                    if !self.wait_for_lease(&c, until, give_up).await? {
                        return Err(Error::Conflict(format!(
                            "connection {id} is being refreshed and its lease did not end in time"
                        )));
                    }
                }
            }
        }
    }

    /// Promotes a verified connection: `verifying` → `active` (or `standby`, served only once
    /// staff accept it), recording when it was verified. `Err(status)`: it was not waiting for
    /// verification.
    pub async fn promote(
        &self,
        id: i64,
        sf_username: Option<String>,
        standby: bool,
    ) -> Result<std::result::Result<(), ConnectionStatus>> {
        let (c, lease) = match self
            .admin_lease(id, |s| s == ConnectionStatus::Verifying)
            .await?
        {
            Ok(x) => x,
            Err(s) => return Ok(Err(s)),
        };
        let now = self.now();
        let status = if standby {
            ConnectionStatus::Standby
        } else {
            ConnectionStatus::Active
        };
        let marked = self
            .leases()
            .transition(
                &lease,
                super::lease::Transition {
                    next_heartbeat_at: c.next_heartbeat_at,
                    verified_at: Some(now),
                    sf_username,
                    ..super::lease::Transition::to(status, now)
                },
            )
            .await?;
        if !marked {
            return Err(Error::Conflict(format!(
                "connection {id}: lost the lease while promoting it"
            )));
        }
        Ok(Ok(()))
    }

    /// Records a failed verification and when to try again (`None`: no more automatic tries).
    pub async fn verification_failed(
        &self,
        id: i64,
        next: Option<DateTime<Utc>>,
        reason: &str,
    ) -> Result<std::result::Result<i32, ConnectionStatus>> {
        let (c, lease) = match self
            .admin_lease(id, |s| s == ConnectionStatus::Verifying)
            .await?
        {
            Ok(x) => x,
            Err(s) => return Ok(Err(s)),
        };
        let attempts = c.verify_attempts.saturating_add(1);
        if !self
            .leases()
            .verification_failed(&lease, attempts, next, reason, self.now())
            .await?
        {
            return Err(Error::Conflict(format!(
                "connection {id}: lost the lease while recording its verification"
            )));
        }
        Ok(Ok(attempts))
    }

    /// Takes a connection out of service for good — `superseded` by a newer verified one, or
    /// `revoked` by a person — and revokes its grant at Salesforce with its newest refresh token.
    /// The row is marked first, so nothing refreshes it once the revocation is under way.
    pub async fn retire(&self, id: i64, status: ConnectionStatus) -> Result<Retired> {
        debug_assert!(status.is_terminal());
        let (c, lease) = match self.admin_lease(id, |s| !s.is_terminal()).await? {
            Ok(x) => x,
            Err(s) => return Ok(Retired::Already(s)),
        };
        self.invalidate(&c.org_id).await?;
        // Read under the lease: no one can have rotated it since.
        let token = self.newest_refresh_token(&c);
        let marked = self
            .leases()
            .mark(
                &lease,
                Mark {
                    status,
                    error: None,
                    sf_username: None,
                    now: self.now(),
                },
            )
            .await?;
        if !marked {
            return Err(Error::Conflict(format!(
                "connection {id}: lost the lease while retiring it"
            )));
        }
        let revoke = match (token, login_of(&c, self.config())) {
            (Ok(Some(rt)), Ok(login)) => match self.client_for(c.app) {
                Ok(sf) => match sf.revoke(&login, &rt).await {
                    Ok(()) => "revoked at Salesforce".to_owned(),
                    Err(e) => format!("Salesforce did not confirm the revocation: {e}"),
                },
                Err(e) => format!("could not revoke: {e}"),
            },
            (Ok(None), _) => "no token was stored".to_owned(),
            (Err(e), _) | (_, Err(e)) => format!("could not revoke: {e}"),
        };
        if !revoke.starts_with("revoked") && revoke != "no token was stored" {
            crate::alerts::raise(
                self.db(),
                "connection.revoke_failed",
                crate::alerts::Severity::Warning,
                Some(&c.org_id),
                &format!(
                    "Connection {id} left service ({status}) but its grant may still be live at Salesforce: {revoke}"
                ),
                serde_json::json!({ "connection_id": id }),
                self.now(),
            )
            .await?;
        }
        Ok(Retired::Done { revoke })
    }

    /// The newest refresh token of a row: a parked one, else the stored one.
    pub(super) fn newest_refresh_token(
        &self,
        c: &connection::Model,
    ) -> Result<Option<secrecy::SecretString>> {
        let sealer = &self.inner.sealer;
        let open = |ct: &Vec<u8>, key: &String, field: &str| {
            sealer
                .open_str(key, ct, &aad(c.id, field))
                .map(Some)
                .map_err(|e| Error::Internal(format!("connection {}: {e}", c.id)))
        };
        match (
            &c.pending_refresh_token_ct,
            &c.pending_key_id,
            &c.refresh_token_ct,
            &c.key_id,
        ) {
            (Some(ct), Some(key), _, _) => open(ct, key, "pending_refresh_token"),
            (_, _, Some(ct), Some(key)) => open(ct, key, "refresh_token"),
            _ => Ok(None),
        }
    }
}
