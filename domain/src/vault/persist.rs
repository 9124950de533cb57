//! Storing what an exchange returned: the rotated token is written until the write lands (the
//! lease kept alive meanwhile) and parked on the row if the lease turned out to be someone
//! else's; an answer that looks wrong is stored all the same and reported.

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::lease::{Lease, Persist, RefreshedEvent};
use super::{Answer, Trigger, Vault, VaultError, jittered, rand_secs, reauth};
use crate::entity::connection::{self, ConnectionStatus, ErrorClass};
use crate::error::Result;
use crate::salesforce::TokenGrant;
use crate::vault::store::aad;

/// One attempt at a write; a hung pool or a paused database costs this, then a retry.
const WRITE_ATTEMPT: Duration = Duration::from_secs(10);
/// The longest pause between two write attempts.
const WRITE_BACKOFF_MAX: Duration = Duration::from_secs(2);

impl Vault {
    /// Stores a successful exchange, whatever else the answer got wrong.
    pub(super) async fn persist_grant(
        &self,
        c: &connection::Model,
        lease: &Lease,
        grant: TokenGrant,
        presented: SecretString,
        trigger: Trigger,
    ) -> Result<Answer> {
        let now = self.now();
        let rotated = grant.refresh_token.is_some();
        // Rotation off: the answer carries no refresh token and the presented one stays valid.
        let rt = grant.refresh_token.clone().unwrap_or(presented);
        // The answer must be for the row's org and user; a token for anyone else is kept (it is
        // the grant's newest) but never served.
        let mismatch = grant.id.as_ref().and_then(|id| {
            let same_org = id.org_id == c.org_id;
            let same_user = id.user_id.get(..15) == c.sf_user_id.get(..15);
            (!same_org || !same_user).then(|| {
                format!(
                    "Salesforce's answer names org {} and user {}, not this connection's org {} and user {}",
                    id.org_id, id.user_id, c.org_id, c.sf_user_id
                )
            })
        });
        let mut anomalies = grant.anomalies.clone();
        anomalies.extend(mismatch.clone());
        let anomaly = (!anomalies.is_empty()).then(|| anomalies.join("; "));
        let instance_url = grant
            .instance_url
            .clone()
            .unwrap_or_else(|| c.instance_url.clone());
        let sealer = &self.inner.sealer;
        let p = Persist {
            refresh_token: sealer.seal_str(&rt, &aad(c.id, "refresh_token")),
            access_token: Some(sealer.seal_str(&grant.access_token, &aad(c.id, "access_token"))),
            instance_url: instance_url.clone(),
            anomaly: anomaly.clone(),
            next_heartbeat_at: now + jittered(self.interval_of(c)),
            now,
            status: mismatch.as_ref().map(|_| ConnectionStatus::Quarantined),
            event: Some(RefreshedEvent {
                org_id: c.org_id.clone(),
                details: serde_json::json!({ "connection_id": c.id, "trigger": trigger.as_str(), "rotated": rotated, "anomaly": anomaly }),
            }),
        };
        if !self.write_persist(c, lease, &p, &rt, now).await? {
            return Ok(Err(VaultError::Busy {
                org_id: c.org_id.clone(),
            }));
        }
        metrics::counter!("reauth_refresh_total", "outcome" => "ok").increment(1);
        if self.inner.accepted.should_record(c.app, &grant, now) {
            crate::security::secrets::record_accepted(self.db(), c.app, &grant, now).await?;
            self.inner.accepted.recorded(c.app, &grant, now);
        }
        if let Some(reason) = mismatch {
            self.invalidate(&c.org_id).await?;
            reauth::quarantined(self, c, &reason, now).await?;
            return Ok(Err(VaultError::Quarantined {
                org_id: c.org_id.clone(),
                reason,
            }));
        }
        if let Some(a) = &anomaly {
            reauth::anomalous_answer(self, c, a, now).await?;
        }
        // The caller decides whether to cache it: only the connection the org is served from is.
        Ok(Ok(self.token(c, grant.access_token, instance_url, now)?))
    }

    /// Stores the refresh token of an answer that was otherwise unusable (no access token):
    /// the next call exchanges it.
    pub(super) async fn persist_salvaged(
        &self,
        c: &connection::Model,
        lease: &Lease,
        rt: SecretString,
        detail: &str,
        trigger: Trigger,
    ) -> Result<Answer> {
        let now = self.now();
        let p = Persist {
            refresh_token: self.inner.sealer.seal_str(&rt, &aad(c.id, "refresh_token")),
            access_token: None,
            instance_url: c.instance_url.clone(),
            anomaly: Some(detail.to_owned()),
            // Soon: the stored token is fine, the access token is missing.
            next_heartbeat_at: now + chrono::Duration::seconds(30 + rand_secs(30)),
            now,
            status: None,
            event: Some(RefreshedEvent {
                org_id: c.org_id.clone(),
                details: serde_json::json!({ "connection_id": c.id, "trigger": trigger.as_str(), "rotated": true, "anomaly": detail, "access_token": false }),
            }),
        };
        self.forget(&c.org_id);
        if !self.write_persist(c, lease, &p, &rt, now).await? {
            return Ok(Err(VaultError::Busy {
                org_id: c.org_id.clone(),
            }));
        }
        metrics::counter!("reauth_refresh_total", "outcome" => "salvaged").increment(1);
        reauth::anomalous_answer(self, c, detail, now).await?;
        Ok(Err(VaultError::Unavailable {
            org_id: c.org_id.clone(),
            class: ErrorClass::Ambiguous,
            detail: format!("{detail}; the new refresh token was kept"),
        }))
    }

    /// Writes a persist until it lands — the keeper holds the lease meanwhile — and never drops
    /// the token: if the lease turns out to be someone else's, the token is parked on the row.
    /// `Ok(false)`: parked, not stored in place.
    async fn write_persist(
        &self,
        c: &connection::Model,
        lease: &Lease,
        p: &Persist,
        rt: &SecretString,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut wait = Duration::from_millis(50);
        loop {
            let write = async {
                if self.inner.opts.single_persists {
                    self.leases().persist(lease, p).await
                } else {
                    self.inner.persists.persist(lease, p).await
                }
            };
            match tokio::time::timeout(WRITE_ATTEMPT, write).await {
                Ok(Ok(true)) => return Ok(true),
                Ok(Ok(false)) => break,
                Ok(Err(e)) => {
                    tracing::warn!(connection_id = c.id, error = %e, "storing refreshed tokens failed; retrying the write")
                }
                Err(_) => {
                    tracing::warn!(
                        connection_id = c.id,
                        "storing refreshed tokens timed out; retrying the write"
                    )
                }
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(WRITE_BACKOFF_MAX);
        }
        // Fenced out: the lease expired and someone recovered the row. Our token is the grant's
        // newest; park it where the next holder looks first.
        let sealed = self
            .inner
            .sealer
            .seal_str(rt, &aad(c.id, "pending_refresh_token"));
        let mut wait = Duration::from_millis(50);
        let parked = loop {
            match tokio::time::timeout(WRITE_ATTEMPT, self.leases().park(c.id, &sealed, now)).await
            {
                Ok(Ok(parked)) => break parked,
                Ok(Err(e)) => {
                    tracing::warn!(connection_id = c.id, error = %e, "parking the refreshed token failed; retrying")
                }
                Err(_) => {
                    tracing::warn!(
                        connection_id = c.id,
                        "parking the refreshed token timed out; retrying"
                    )
                }
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(WRITE_BACKOFF_MAX);
        };
        tracing::error!(
            connection_id = c.id,
            parked,
            "lost the lease while refreshing; the new token was parked for the next holder"
        );
        crate::alerts::raise(
            self.db(),
            "vault.lease_lost",
            crate::alerts::Severity::Critical,
            Some(&c.org_id),
            "A refresh lost its lease before it could store the rotated token; the token was parked on the connection and the next refresh presents it.",
            serde_json::json!({ "connection_id": c.id, "parked": parked }),
            now,
        )
        .await?;
        Ok(false)
    }
}

/// How long an accepted client secret's `secret_usage.last_accepted_at` may lag behind.
const SECRET_USAGE_EVERY: chrono::Duration = chrono::Duration::seconds(60);

/// The client secret this vault last recorded as accepted, per app: every refresh used to upsert
/// the same `secret_usage` row (one hot row that every refresh in flight waited on). Now a
/// fingerprint is written when it differs from the last one written, when the last write is a
/// minute old, and whenever the previous secret was accepted (its alert).
#[derive(Default)]
pub(super) struct AcceptedSecrets(
    std::sync::Mutex<std::collections::HashMap<&'static str, (String, DateTime<Utc>)>>,
);

impl AcceptedSecrets {
    fn should_record(
        &self,
        app: connection::ConnectionApp,
        grant: &TokenGrant,
        now: DateTime<Utc>,
    ) -> bool {
        let Some(fp) = &grant.accepted_secret else {
            return false;
        };
        if grant.previous_secret_accepted {
            return true;
        }
        let last = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        !matches!(last.get(<&'static str>::from(app)), Some((f, at)) if f == fp && *at <= now && now - *at < SECRET_USAGE_EVERY)
    }

    fn recorded(&self, app: connection::ConnectionApp, grant: &TokenGrant, now: DateTime<Utc>) {
        if let Some(fp) = &grant.accepted_secret {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(app.into(), (fp.clone(), now));
        }
    }
}
