//! Tokens handed out by the token API, counted per hour, org, API key and app in the durable
//! `token_usage` table (the readiness report's "last legacy answer served", the monitor's
//! volume baseline). Counting is in memory on the hot path; a flusher adds the counts to the
//! table every few seconds (`INSERT … ON CONFLICT DO UPDATE answers = answers + …`), and the
//! vault's drain flushes what is left. Metrics carry the app and the key, never the org.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::{DateTime, DurationRound, Utc};
use dashmap::DashMap;
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

/// A count's key as borrowed parts, so that counting a token already counted this hour finds
/// its cell without cloning the org id (an allocation on every answer). [`Key`] hashes and
/// compares as its parts: a tuple hashes its fields in order, and an `OrgId` hashes as its text.
trait KeyParts {
    fn parts(&self) -> (DateTime<Utc>, &str, i64, ConnectionApp);
}

impl KeyParts for Key {
    fn parts(&self) -> (DateTime<Utc>, &str, i64, ConnectionApp) {
        (self.0, self.1.as_str(), self.2, self.3)
    }
}

impl KeyParts for (DateTime<Utc>, &str, i64, ConnectionApp) {
    fn parts(&self) -> (DateTime<Utc>, &str, i64, ConnectionApp) {
        *self
    }
}

impl<'a> Borrow<dyn KeyParts + 'a> for Key {
    fn borrow(&self) -> &(dyn KeyParts + 'a) {
        self
    }
}

impl Hash for dyn KeyParts + '_ {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.parts().hash(h);
    }
}

impl PartialEq for dyn KeyParts + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn KeyParts + '_ {}

/// Counts not yet written. Every token-API answer counts here, so counting takes no lock every
/// request shares for writing: a sharded map whose cells are atomics (a new hour, org or key
/// takes its shard's write lock once), and the metric's handle is kept per key and app instead
/// of being looked up (and its label formatted) on every call.
#[derive(Default)]
pub(super) struct Usage {
    pending: DashMap<Key, AtomicI64>,
    /// `reauth_tokens_served_total{app, api_key}`, registered once per label pair.
    served: DashMap<(i64, ConnectionApp), metrics::Counter>,
}

impl Usage {
    fn count(&self, hour: DateTime<Utc>, t: &AccessToken, api_key_id: i64) {
        let parts = (hour, t.org_id.as_str(), api_key_id, t.app);
        if let Some(n) = self.pending.get(&parts as &dyn KeyParts) {
            n.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.pending
            .entry((hour, t.org_id.clone(), api_key_id, t.app))
            .or_default()
            .fetch_add(1, Ordering::Relaxed);
    }

    fn metric(&self, app: ConnectionApp, api_key_id: i64) {
        if let Some(c) = self.served.get(&(api_key_id, app)) {
            c.increment(1);
            return;
        }
        let c = metrics::counter!(
            "reauth_tokens_served_total",
            "app" => app.as_str(),
            "api_key" => api_key_id.to_string()
        );
        c.increment(1);
        self.served.insert((api_key_id, app), c);
    }

    /// Takes every count gathered so far; cells of past hours that are now empty are dropped.
    fn take(&self, hour: DateTime<Utc>) -> HashMap<Key, i64> {
        let mut out = HashMap::new();
        for cell in &self.pending {
            let n = cell.value().swap(0, Ordering::Relaxed);
            if n != 0 {
                out.insert(cell.key().clone(), n);
            }
        }
        self.pending
            .retain(|k, n| k.0 >= hour || n.load(Ordering::Relaxed) != 0);
        out
    }

    fn give_back(&self, counts: HashMap<Key, i64>) {
        for (k, n) in counts {
            self.pending
                .entry(k)
                .or_default()
                .fetch_add(n, Ordering::Relaxed);
        }
    }
}

impl Vault {
    fn this_hour(&self) -> DateTime<Utc> {
        let now = self.now();
        now.duration_trunc(chrono::Duration::hours(1))
            .unwrap_or(now)
    }

    /// Counts one token handed out to `api_key_id`.
    pub fn count_served(&self, t: &AccessToken, api_key_id: i64) {
        let usage = &self.inner.usage;
        usage.metric(t.app, api_key_id);
        usage.count(self.this_hour(), t, api_key_id);
    }

    /// Writes the counts gathered so far. On failure they are kept for the next flush.
    pub async fn flush_usage(&self) -> Result<()> {
        let counts = self.inner.usage.take(self.this_hour());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_found_by_its_borrowed_parts() {
        let usage = Usage::default();
        let hour = Utc::now();
        let Ok(org) = OrgId::parse("00D000000000001") else {
            panic!("a valid org id")
        };
        usage.pending.insert(
            (hour, org.clone(), 7, ConnectionApp::Eca),
            AtomicI64::new(1),
        );
        let same = (hour, org.as_str(), 7_i64, ConnectionApp::Eca);
        assert!(usage.pending.get(&same as &dyn KeyParts).is_some());
        let other_key = (hour, org.as_str(), 8_i64, ConnectionApp::Eca);
        assert!(usage.pending.get(&other_key as &dyn KeyParts).is_none());
        let other_app = (hour, org.as_str(), 7_i64, ConnectionApp::Legacy);
        assert!(usage.pending.get(&other_app as &dyn KeyParts).is_none());
    }
}
