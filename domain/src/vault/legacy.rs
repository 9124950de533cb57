//! The legacy Connected App's connections in the vault: activation (reauth becomes the only
//! refresher), accepting a standby connection, and retirement — taken out of service, the token
//! caches of every process invalidated, and only then revoked at Salesforce, with retries.
//! Every change is made under an admin lease, like every other write to a connection row.

use chrono::{DateTime, Utc};

use super::Vault;
use super::lease::Transition;
use super::protocol::login_of;
use crate::entity::connection::{ConnectionApp, ConnectionStatus};
use crate::error::{Error, Result};
use crate::salesforce::SfError;

/// Revocation attempts before an alert (they go on after it, daily at most).
pub const REVOKE_ALERT_AFTER: i32 = 3;

/// The pause after a failed revocation attempt `n` (1-based).
pub fn revoke_backoff(n: i32) -> chrono::Duration {
    match n {
        ..=1 => chrono::Duration::seconds(30),
        2 => chrono::Duration::minutes(5),
        3 => chrono::Duration::minutes(30),
        4 => chrono::Duration::hours(2),
        _ => chrono::Duration::hours(24),
    }
}

/// What one revocation attempt of a retiring connection did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeOutcome {
    /// Salesforce confirmed (or the token was already invalid there): the row is `revoked`.
    Revoked { detail: String },
    /// Not confirmed; tried again at `next` (`attempts` so far).
    Failed {
        attempts: i32,
        next: DateTime<Utc>,
        detail: String,
    },
    /// Not due yet, or no longer retiring.
    NotDue,
}

impl Vault {
    /// Hands a held legacy connection over to reauth: `held` → `active`. From here on reauth is
    /// its only refresher. `Err(status)`: it was not held.
    pub async fn activate(&self, id: i64) -> Result<std::result::Result<(), ConnectionStatus>> {
        let (c, lease) = match self
            .admin_lease(id, |s| s == ConnectionStatus::Held)
            .await?
        {
            Ok(x) => x,
            Err(s) => return Ok(Err(s)),
        };
        if c.app != ConnectionApp::Legacy {
            return Err(Error::Invalid(format!(
                "connection {id} is not a legacy connection"
            )));
        }
        let now = self.now();
        // Due at once: the first exchange checks whose token it is, and the services that held
        // it until now may have let it idle for a while.
        let next = self.config().legacy.keep_alive.then_some(now);
        self.end_admin(
            &lease,
            Transition {
                next_heartbeat_at: next,
                ..Transition::to(ConnectionStatus::Active, now)
            },
        )
        .await?;
        self.forget(&c.org_id);
        Ok(Ok(()))
    }

    /// Serves a `standby` connection (consented by another user than the legacy one it
    /// replaces): `standby` → `active`, and the org's caches invalidated everywhere.
    pub async fn accept_standby(
        &self,
        id: i64,
    ) -> Result<std::result::Result<(), ConnectionStatus>> {
        let (c, lease) = match self
            .admin_lease(id, |s| s == ConnectionStatus::Standby)
            .await?
        {
            Ok(x) => x,
            Err(s) => return Ok(Err(s)),
        };
        let now = self.now();
        self.end_admin(
            &lease,
            Transition {
                next_heartbeat_at: c.next_heartbeat_at,
                ..Transition::to(ConnectionStatus::Active, now)
            },
        )
        .await?;
        self.invalidate(&c.org_id).await?;
        Ok(Ok(()))
    }

    /// Takes a legacy connection out of service: `active` → `retiring`, then invalidates every
    /// process's cache. The revocation is due once the invalidation has reached them all.
    /// `Err(status)`: it was not active.
    pub async fn start_retirement(
        &self,
        id: i64,
    ) -> Result<std::result::Result<DateTime<Utc>, ConnectionStatus>> {
        let (c, lease) = match self
            .admin_lease(id, |s| s == ConnectionStatus::Active)
            .await?
        {
            Ok(x) => x,
            Err(s) => return Ok(Err(s)),
        };
        let now = self.now();
        let horizon = chrono::Duration::from_std(self.invalidation_horizon()).unwrap_or_default();
        let due = now + horizon;
        self.end_admin(
            &lease,
            Transition {
                revoke: Some((0, Some(due))),
                ..Transition::to(ConnectionStatus::Retiring, now)
            },
        )
        .await?;
        self.invalidate(&c.org_id).await?;
        Ok(Ok(due))
    }

    /// One revocation attempt of a `retiring` connection whose revocation is due.
    pub async fn revoke_retiring(&self, id: i64) -> Result<RevokeOutcome> {
        let now = self.now();
        let (c, lease) = match self
            .admin_lease(id, |s| s == ConnectionStatus::Retiring)
            .await?
        {
            Ok(x) => x,
            Err(_) => return Ok(RevokeOutcome::NotDue),
        };
        if c.next_revoke_at.is_some_and(|t| t > now) {
            // Give the lease back unchanged.
            self.end_admin(&lease, Transition::to(ConnectionStatus::Retiring, now))
                .await?;
            return Ok(RevokeOutcome::NotDue);
        }
        // Read under the lease, so it is the newest token.
        let answer = match (self.newest_refresh_token(&c), login_of(&c, self.config())) {
            (Ok(Some(rt)), Ok(login)) => match self.client_for(c.app) {
                Ok(sf) => match sf.revoke(&login, &rt).await {
                    Ok(()) => Ok("revoked at Salesforce".to_owned()),
                    // The token is not valid there any more: the grant is gone either way.
                    Err(SfError::OAuth { status: 400, error, .. }) if error == "invalid_token" => {
                        Ok("Salesforce no longer knew the token (invalid_token): nothing left to revoke".to_owned())
                    }
                    Err(e) => Err(format!("Salesforce did not confirm the revocation: {e}")),
                },
                Err(e) => Err(e),
            },
            (Ok(None), _) => Ok("no token was stored".to_owned()),
            (Err(e), _) | (_, Err(e)) => Err(format!("could not revoke: {e}")),
        };
        match answer {
            Ok(detail) => {
                self.end_admin(
                    &lease,
                    Transition {
                        revoke: Some((c.revoke_attempts + 1, None)),
                        ..Transition::to(ConnectionStatus::Revoked, now)
                    },
                )
                .await?;
                Ok(RevokeOutcome::Revoked { detail })
            }
            Err(detail) => {
                let attempts = c.revoke_attempts + 1;
                let next = now + revoke_backoff(attempts);
                self.end_admin(
                    &lease,
                    Transition {
                        revoke: Some((attempts, Some(next))),
                        error: Some(&detail),
                        ..Transition::to(ConnectionStatus::Retiring, now)
                    },
                )
                .await?;
                Ok(RevokeOutcome::Failed {
                    attempts,
                    next,
                    detail,
                })
            }
        }
    }

    /// Takes a connection out of service without revoking it (an import replaced it with the
    /// partner's newer token of the same grant, which a revocation would kill).
    pub async fn set_aside(&self, id: i64) -> Result<std::result::Result<(), ConnectionStatus>> {
        let (c, lease) = match self.admin_lease(id, ConnectionStatus::is_live).await? {
            Ok(x) => x,
            Err(s) => return Ok(Err(s)),
        };
        self.end_admin(
            &lease,
            Transition {
                error: Some("replaced by a newer import of the partner's token"),
                ..Transition::to(ConnectionStatus::Superseded, self.now())
            },
        )
        .await?;
        self.invalidate(&c.org_id).await?;
        Ok(Ok(()))
    }

    async fn end_admin(&self, lease: &super::lease::Lease, t: Transition<'_>) -> Result<()> {
        if self.leases().transition(lease, t).await? {
            Ok(())
        } else {
            Err(Error::Conflict(format!(
                "connection {}: lost the lease during a status change",
                lease.id
            )))
        }
    }
}
