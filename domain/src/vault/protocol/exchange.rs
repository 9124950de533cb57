//! One exchange with Salesforce: the refresh call under its time limit, and the note of it
//! (time, outcome, whether the token rotated) the token-use monitor matches against
//! Salesforce's own records.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret as _, SecretString};

use super::super::Vault;
use crate::entity::connection;
use crate::salesforce::{SfError, TokenGrant};
use crate::types::LoginUrl;

impl Vault {
    /// Presents `rt` to Salesforce for `c`, bounded by the exchange limit (a timeout counts as
    /// sent: Salesforce may have rotated the token), and notes the exchange for the monitor.
    pub(super) async fn exchange(
        &self,
        sf: &crate::salesforce::SfClient,
        c: &connection::Model,
        login: &LoginUrl,
        rt: &SecretString,
    ) -> std::result::Result<TokenGrant, SfError> {
        let at = self.now();
        let answer = match tokio::time::timeout(self.exchange_limit(), sf.refresh(login, rt)).await
        {
            Ok(r) => r,
            Err(_) => Err(SfError::Transport {
                sent: true,
                detail: "timed out".into(),
            }),
        };
        self.record_exchange(c, at, rt, &answer);
        answer
    }

    /// Notes the exchange (time, outcome) for the token-use monitor, on a tracked task of its own:
    /// it never delays the write that keeps a rotated token, and a failure only costs the
    /// monitor one match.
    fn record_exchange(
        &self,
        c: &connection::Model,
        at: DateTime<Utc>,
        rt: &SecretString,
        answer: &std::result::Result<TokenGrant, SfError>,
    ) {
        let outcome = match answer {
            Ok(_) | Err(SfError::Salvaged { .. }) => "ok",
            Err(SfError::OAuth { description, .. })
                if description
                    .as_deref()
                    .is_some_and(|d| d.to_ascii_lowercase().contains("ip restricted")) =>
            {
                "restricted_ip"
            }
            Err(SfError::OAuth { .. }) => "refused",
            Err(_) => "failed",
        };
        let class = match answer {
            Err(e) if !matches!(e, SfError::Salvaged { .. }) => {
                Some(crate::security::incident::breaker::class_of(e))
            }
            _ => None,
        };
        let rotated = match answer {
            Ok(g) => Some(
                g.refresh_token
                    .as_ref()
                    .is_some_and(|n| n.expose_secret() != rt.expose_secret()),
            ),
            Err(SfError::Salvaged { .. }) => Some(true),
            Err(_) => None,
        };
        let row = crate::entity::exchange::ActiveModel {
            id: sea_orm::ActiveValue::NotSet,
            org_id: sea_orm::ActiveValue::Set(c.org_id.clone()),
            connection_id: sea_orm::ActiveValue::Set(c.id),
            app: sea_orm::ActiveValue::Set(c.app),
            at: sea_orm::ActiveValue::Set(at),
            egress_ip: sea_orm::ActiveValue::Set(None),
            outcome: sea_orm::ActiveValue::Set(outcome.to_owned()),
            matched_at: sea_orm::ActiveValue::Set(None),
            class: sea_orm::ActiveValue::Set(class),
            rotated: sea_orm::ActiveValue::Set(rotated),
        };
        let id = c.id;
        let vault = self.clone();
        self.inner.tracker.spawn(async move {
            // Through the journal: written together with the other exchanges of the moment.
            if let Err(e) = vault.inner.journal.exchange(row).await {
                tracing::warn!(connection_id = id, error = %e, "could not record the exchange for the monitor");
            }
        });
    }
}
