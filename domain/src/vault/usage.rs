//! Tokens handed out by the token API, counted per hour, org, API key and app in the durable
//! `token_usage` table (the readiness report's "last legacy answer served", the monitor's
//! volume baseline). Counting is in memory on the hot path; a flusher adds the counts to the
//! table every few seconds (`INSERT … ON CONFLICT DO UPDATE answers = answers + …`), and the
//! vault's drain flushes what is left. Metrics carry the app and the key, never the org.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use chrono::{DateTime, DurationRound, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ActiveValue::Set, EntityTrait};

use super::{AccessToken, Inner, Vault};
use crate::entity::connection::ConnectionApp;
use crate::entity::token_usage;
use crate::error::Result;
use crate::types::OrgId;

/// How often counts reach the table.
const FLUSH_EVERY: Duration = Duration::from_secs(5);

type Key = (DateTime<Utc>, OrgId, i64, ConnectionApp);

/// Counts not yet written.
#[derive(Default)]
pub(super) struct Usage {
    pending: Mutex<HashMap<Key, i64>>,
}

impl Usage {
    fn take(&self) -> HashMap<Key, i64> {
        std::mem::take(
            &mut *self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    fn give_back(&self, counts: HashMap<Key, i64>) {
        let mut p = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (k, n) in counts {
            *p.entry(k).or_default() += n;
        }
    }
}

impl Vault {
    /// Counts one token handed out to `api_key_id`.
    pub fn count_served(&self, t: &AccessToken, api_key_id: i64) {
        let hour = self
            .now()
            .duration_trunc(chrono::Duration::hours(1))
            .unwrap_or_else(|_| self.now());
        metrics::counter!(
            "reauth_tokens_served_total",
            "app" => t.app.as_str(),
            "api_key" => api_key_id.to_string()
        )
        .increment(1);
        let mut p = self
            .inner
            .usage
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *p.entry((hour, t.org_id.clone(), api_key_id, t.app))
            .or_default() += 1;
    }

    /// Writes the counts gathered so far. On failure they are kept for the next flush.
    pub async fn flush_usage(&self) -> Result<()> {
        let counts = self.inner.usage.take();
        if counts.is_empty() {
            return Ok(());
        }
        let rows: Vec<_> = counts
            .iter()
            .map(|((hour, org, key, app), n)| token_usage::ActiveModel {
                hour: Set(*hour),
                org_id: Set(org.clone()),
                api_key_id: Set(*key),
                app: Set(*app),
                answers: Set(*n),
            })
            .collect();
        let mut failed = None;
        for chunk in rows.chunks(500) {
            let res = token_usage::Entity::insert_many(chunk.to_vec())
                .on_conflict(
                    OnConflict::columns([
                        token_usage::Column::Hour,
                        token_usage::Column::OrgId,
                        token_usage::Column::ApiKeyId,
                        token_usage::Column::App,
                    ])
                    .value(
                        token_usage::Column::Answers,
                        Expr::col((token_usage::Entity, token_usage::Column::Answers))
                            .add(Expr::cust("excluded.answers")),
                    )
                    .to_owned(),
                )
                .exec_without_returning(self.db())
                .await;
            if let Err(e) = res {
                failed = Some(e);
                break;
            }
        }
        if let Some(e) = failed {
            // All or nothing is not possible across chunks; a failed chunk is rare (the database
            // is down) and its counts, with the rest, are retried. A count may then be doubled,
            // never lost.
            self.inner.usage.give_back(counts);
            return Err(e.into());
        }
        Ok(())
    }

    /// Starts this vault's flusher (when there is a runtime); it ends with the vault.
    pub(super) fn flush_usage_periodically(&self) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        rt.spawn(async move {
            loop {
                tokio::time::sleep(FLUSH_EVERY).await;
                let Some(inner) = weak.upgrade() else { return };
                let vault = Vault { inner };
                if let Err(e) = vault.flush_usage().await {
                    tracing::warn!(error = %e, "could not write token usage counts; kept for the next try");
                }
            }
        });
    }
}
