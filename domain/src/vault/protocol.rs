//! The refresh protocol itself: claim → exchange (with a keeper extending the lease) → persist,
//! and what each kind of answer leads to. The exchange with Salesforce itself, and the note of
//! it for the token-use monitor, are in `exchange`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::lease::{Claim, Lease, Mark, Purpose};
use super::{Answer, Trigger, Vault, VaultError, classify, rand_secs, reauth};
use crate::config::Config;
use crate::entity::connection::{self, ConnectionStatus, ErrorClass};
use crate::error::{Error, Result};
use crate::salesforce::SfError;
use crate::types::LoginUrl;
use crate::vault::store::aad;

mod exchange;

/// The refresh token a lease holder presents, and where it came from.
struct Presented {
    token: SecretString,
    /// It was parked by a holder that lost its lease (newer than the stored one).
    parked: bool,
}

impl Vault {
    /// The refresh protocol. The caller holds this process's lock for the connection.
    #[tracing::instrument(skip_all, fields(connection_id = id, ?trigger, org_id = tracing::field::Empty))]
    pub(super) async fn refresh_locked(
        &self,
        id: i64,
        trigger: Trigger,
        deadline: tokio::time::Instant,
    ) -> Result<Answer> {
        for _ in 0..50 {
            let c = self.reload(id).await?;
            let org_id = c.org_id.clone();
            tracing::Span::current().record("org_id", tracing::field::display(&org_id));
            match c.status {
                ConnectionStatus::NeedsReauth
                | ConnectionStatus::Revoked
                | ConnectionStatus::Superseded
                | ConnectionStatus::Retiring => {
                    return Ok(Err(VaultError::NeedsReauth {
                        org_id,
                        reason: c.last_error.clone().unwrap_or_else(|| c.status.to_string()),
                    }));
                }
                ConnectionStatus::Quarantined => {
                    return Ok(Err(VaultError::Quarantined {
                        org_id,
                        reason: c.anomaly.clone().unwrap_or_default(),
                    }));
                }
                ConnectionStatus::Held => {
                    return Ok(Err(VaultError::Held { org_id }));
                }
                ConnectionStatus::Active
                | ConnectionStatus::Verifying
                | ConnectionStatus::Standby
                | ConnectionStatus::Refreshing => {}
            }
            if self.closing() {
                return Ok(Err(VaultError::Busy { org_id }));
            }
            if trigger == Trigger::Heartbeat && !heartbeat_may_claim(&c, self.leases().clock_now())
            {
                // Another sweep got here first (or holds it). The claim below would say the same
                // atomically; reading is cheaper than a write that matches nothing.
                return Ok(Err(VaultError::Busy { org_id }));
            }
            // A row found `refreshing` can only be claimed once its lease ran out: its holder
            // died mid-rotation, and this claim is the recovery.
            let recovering = c.status == ConnectionStatus::Refreshing;
            match self
                .leases()
                .claim(&c, Purpose::Exchange, trigger == Trigger::Heartbeat)
                .await?
            {
                Claim::Taken(lease) => {
                    let trigger = if recovering {
                        Trigger::Recovery
                    } else {
                        trigger
                    };
                    // From here until the new tokens are stored, nothing may stop the work — not
                    // a caller that went away, not a request time-out: Salesforce may already
                    // have rotated the token. The exchange runs on a tracked task of its own,
                    // which shutdown waits for.
                    let vault = self.clone();
                    return self
                        .inner
                        .tracker
                        .spawn(async move { vault.exchange_claimed(c, lease, trigger).await })
                        .await
                        .map_err(|e| {
                            Error::Internal(format!(
                                "connection {id}: the refresh task failed: {e}"
                            ))
                        })?;
                }
                Claim::Moved => continue,
                Claim::NotDue => return Ok(Err(VaultError::Busy { org_id })),
                Claim::Held { until } => {
                    // Another process holds the lease. The heartbeat leaves it to them; callers
                    // wait a bounded time for it, then re-read.
                    metrics::counter!("reauth_lease_contention_total").increment(1);
                    if trigger == Trigger::Heartbeat
                        || !self.wait_for_lease(&c, until, deadline).await?
                    {
                        return Ok(Err(VaultError::Busy { org_id }));
                    }
                    let after = self.reload(id).await?;
                    if after.version != c.version
                        && let Some(t) = self.fresh_token(&after)?
                    {
                        return Ok(Ok(t));
                    }
                }
            }
        }
        Err(Error::Conflict(format!(
            "connection {id}: could not claim its lease"
        )))
    }

    /// Waits until another holder's lease on `c` ends (its write bumped the version, or the lease
    /// ran out), at most until `give_up`. Returns whether it ended. Woken by the lease's end
    /// where it can be heard of, else re-reading the row with a back-off (`super::wake`).
    pub(super) async fn wait_for_lease(
        &self,
        c: &connection::Model,
        until: Option<DateTime<Utc>>,
        give_up: tokio::time::Instant,
    ) -> Result<bool> {
        let lease_end =
            until.unwrap_or_else(|| self.leases().clock_now()) + chrono::Duration::seconds(1);
        // An end from now on wakes us; one in the instant since the claim's read is seen by the
        // next read (at most `wake::SAFETY_POLL` away).
        let mut waiter = self.leases().wake().subscribe(c.id);
        while self.leases().clock_now() < lease_end {
            if tokio::time::Instant::now() >= give_up {
                return Ok(false);
            }
            waiter.wait(give_up).await;
            if self.reload(c.id).await?.version != c.version {
                return Ok(true);
            }
        }
        Ok(true)
    }

    /// Runs one exchange under a held lease, to its end.
    pub(super) async fn exchange_claimed(
        &self,
        c: connection::Model,
        lease: Lease,
        trigger: Trigger,
    ) -> Result<Answer> {
        let _keeper = self.keep(&lease);
        let presented = match self.presented(&c) {
            Ok(p) => p,
            Err(detail) => {
                return self
                    .release_failure(&c, &lease, ErrorClass::Ours, &detail)
                    .await;
            }
        };
        if presented.parked {
            tracing::warn!(
                connection_id = c.id,
                "presenting the refresh token parked by a holder that lost its lease"
            );
        }
        let login = match login_of(&c, &self.inner.config) {
            Ok(l) => l,
            Err(e) => {
                return self
                    .release_failure(&c, &lease, ErrorClass::Ours, &e.to_string())
                    .await;
            }
        };
        let sf = match self.client_for(c.app) {
            Ok(sf) => sf,
            Err(detail) => {
                return self
                    .release_failure(&c, &lease, ErrorClass::Ours, &detail)
                    .await;
            }
        };
        let started = std::time::Instant::now();
        let mut answer = self.exchange(sf, &c, &login, &presented.token).await;
        metrics::histogram!("reauth_refresh_seconds").record(started.elapsed().as_secs_f64());
        let mut probed = false;
        if let Err(e) = &answer
            && !matches!(e, SfError::Salvaged { .. })
            && classify(e) == ErrorClass::Ambiguous
        {
            // Never a blind resend: pause, then one probe with the stored token. If Salesforce did
            // rotate, the new token is already lost and the probe only makes that explicit.
            tracing::warn!(org_id = %c.org_id, error = %e, "ambiguous refresh answer; probing once");
            tokio::time::sleep(self.inner.opts.probe_delay).await;
            answer = self.exchange(sf, &c, &login, &presented.token).await;
            probed = true;
        }
        match answer {
            Ok(grant) => {
                self.persist_grant(&c, &lease, grant, presented.token, trigger)
                    .await
            }
            Err(SfError::Salvaged {
                detail,
                refresh_token,
            }) => {
                self.persist_salvaged(&c, &lease, refresh_token, &detail, trigger)
                    .await
            }
            Err(e) => {
                let class = classify(&e);
                metrics::counter!("reauth_refresh_total", "outcome" => class.as_str()).increment(1);
                if class != ErrorClass::Revoked {
                    return self
                        .release_failure(&c, &lease, class, &e.to_string())
                        .await;
                }
                let reason = if trigger == Trigger::Recovery {
                    format!(
                        "rotation lost in a crash: a refresh was interrupted after it started and the stored refresh token no longer works ({e})"
                    )
                } else if probed {
                    format!(
                        "rotation lost: Salesforce's answer to a refresh never arrived intact and the stored refresh token no longer works ({e})"
                    )
                } else {
                    e.to_string()
                };
                self.needs_reauth(&c, &lease, class, &reason).await
            }
        }
    }

    /// The token to present: one parked by a holder that lost its lease (newer), else the stored
    /// one. `Err`: why there is none (a fault on our side).
    fn presented(&self, c: &connection::Model) -> std::result::Result<Presented, String> {
        let sealer = &self.inner.sealer;
        if let (Some(ct), Some(key)) = (&c.pending_refresh_token_ct, &c.pending_key_id) {
            return sealer
                .open_str(key, ct, &aad(c.id, "pending_refresh_token"))
                .map(|token| Presented {
                    token,
                    parked: true,
                })
                .map_err(|e| format!("cannot decrypt the parked refresh token: {e}"));
        }
        match (&c.refresh_token_ct, &c.key_id) {
            (Some(ct), Some(key)) => sealer
                .open_str(key, ct, &aad(c.id, "refresh_token"))
                .map(|token| Presented {
                    token,
                    parked: false,
                })
                .map_err(|e| format!("cannot decrypt the refresh token: {e}")),
            _ => Err("the connection has no refresh token".into()),
        }
    }

    /// Extends the lease every third of its length until dropped, so a slow exchange, a probe or
    /// a write retried against a struggling database never outlives it.
    fn keep(&self, lease: &Lease) -> KeeperGuard {
        let leases = self.leases().clone();
        let lease = lease.clone();
        let every = leases.duration() / 3;
        KeeperGuard(tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match leases.extend(&lease).await {
                    Ok(true) => {}
                    // Our final write landed, or someone took the row over; the write path
                    // tells which.
                    Ok(false) => return,
                    Err(e) => {
                        tracing::warn!(connection_id = lease.id, error = %e, "could not extend the lease; trying again")
                    }
                }
            }
        }))
    }

    /// Ends the lease after a failure that leaves the token standing.
    async fn release_failure(
        &self,
        c: &connection::Model,
        lease: &Lease,
        class: ErrorClass,
        detail: &str,
    ) -> Result<Answer> {
        let now = self.now();
        // Transient failures retry soon (with jitter); the others wait for a person or an hour.
        let retry = match class {
            ErrorClass::Transient | ErrorClass::Ambiguous => {
                chrono::Duration::seconds(30 + rand_secs(30))
            }
            _ => chrono::Duration::hours(1),
        };
        if !self
            .leases()
            .release(lease, class, detail, now + retry, now)
            .await?
        {
            tracing::warn!(
                connection_id = c.id,
                "the lease was no longer ours when releasing it after a failure"
            );
        }
        metrics::counter!("reauth_refresh_total", "outcome" => class.as_str()).increment(1);
        reauth::after_failure(self, c, class, detail, now).await?;
        Ok(Err(VaultError::Unavailable {
            org_id: c.org_id.clone(),
            class,
            detail: detail.into(),
        }))
    }

    /// The grant is gone: the connection leaves service and the org goes back to re-consent.
    async fn needs_reauth(
        &self,
        c: &connection::Model,
        lease: &Lease,
        class: ErrorClass,
        reason: &str,
    ) -> Result<Answer> {
        // Every process stops serving its access tokens (the grant is gone; another connection,
        // such as the legacy one, may serve the org from the next call).
        self.invalidate(&c.org_id).await?;
        let now = self.now();
        let marked = self
            .leases()
            .mark(
                lease,
                Mark {
                    status: ConnectionStatus::NeedsReauth,
                    error: Some((class, reason)),
                    sf_username: None,
                    now,
                },
            )
            .await?;
        if marked {
            reauth::needs_reauth(self, c, class, reason, now).await?;
        } else {
            tracing::warn!(
                connection_id = c.id,
                "the lease was no longer ours when marking the connection needs_reauth"
            );
        }
        Ok(Err(VaultError::NeedsReauth {
            org_id: c.org_id.clone(),
            reason: reason.into(),
        }))
    }

    /// The connection's heartbeat interval (its own, or the configured one).
    pub(super) fn interval_of(&self, c: &connection::Model) -> Duration {
        c.heartbeat_interval_secs
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs)
            .unwrap_or(self.inner.config.heartbeat.interval)
    }
}

/// Whether a heartbeat should try to claim a row as read: it is due (or a dead holder's), and
/// no live lease is on it.
fn heartbeat_may_claim(c: &connection::Model, now: DateTime<Utc>) -> bool {
    let leased = c.lease_expires_at.is_some_and(|t| t >= now);
    let due =
        c.status == ConnectionStatus::Refreshing || c.next_heartbeat_at.is_some_and(|t| t <= now);
    due && !leased
}

/// Stops the lease keeper when the exchange's work is done.
struct KeeperGuard(tokio::task::JoinHandle<()>);

impl Drop for KeeperGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Where refreshes go: the login host the grant was made at (the `id` URL's origin).
pub(super) fn login_of(c: &connection::Model, config: &Config) -> Result<LoginUrl> {
    let url = url::Url::parse(&c.id_url)
        .map_err(|e| Error::Internal(format!("connection {}: id URL: {e}", c.id)))?;
    let origin = url.origin().ascii_serialization();
    LoginUrl::parse(&origin, &config.salesforce.extra_login_hosts)
        .map_err(|e| Error::Internal(format!("connection {}: {e}", c.id)))
}
