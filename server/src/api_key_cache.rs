//! A short-lived cache of verified API keys, keyed by the key's SHA-256 (never the key itself).
//! A revoked key stops working within `TTL`.
//!
//! Every token-API request reads it, so it takes no lock all requests share for writing: a
//! sharded map read under its shard's read lock, and the key's row behind an `Arc` (a hit
//! copies a pointer, not the row's strings).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use dashmap::DashMap;
use domain::entity::api_key;
use sha2::{Digest, Sha256};

/// How long a verified key is trusted without asking the database again.
pub(crate) const TTL: Duration = Duration::seconds(10);

/// How many keys are kept before expired ones are swept out.
const SWEEP_ABOVE: usize = 10_000;

/// Key hash → (the key's row, when it was verified).
type Entries = DashMap<[u8; 32], (Arc<api_key::Model>, DateTime<Utc>)>;

#[derive(Clone, Default)]
pub(crate) struct ApiKeyCache(Arc<Entries>);

impl ApiKeyCache {
    /// The cache's key for a presented API key.
    pub(crate) fn hash(presented: &str) -> [u8; 32] {
        Sha256::digest(presented.as_bytes()).into()
    }

    /// The key's row if it was verified less than `TTL` before `now`.
    pub(crate) fn get(&self, hash: &[u8; 32], now: DateTime<Utc>) -> Option<Arc<api_key::Model>> {
        self.0
            .get(hash)
            .filter(|e| now - e.1 < TTL)
            .map(|e| e.0.clone())
    }

    /// Remembers a key just verified against the database.
    pub(crate) fn put(&self, hash: [u8; 32], k: Arc<api_key::Model>, now: DateTime<Utc>) {
        if self.0.len() > SWEEP_ABOVE {
            self.0.retain(|_, (_, at)| now - *at < TTL);
        }
        self.0.insert(hash, (k, now));
    }

    /// Forgets every cached key (a key was revoked in this process: it stops at once here;
    /// other processes stop within `TTL`).
    pub(crate) fn clear(&self) {
        self.0.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: i64) -> Arc<api_key::Model> {
        let now = Utc::now();
        Arc::new(api_key::Model {
            id,
            name: "k".into(),
            prefix: "rk_x".into(),
            key_hash: "h".into(),
            created_by: "system".into(),
            created_at: now,
            last_used_at: None,
            revoked_at: None,
            scopes: "tokens:read".into(),
        })
    }

    #[test]
    fn a_cached_key_expires_after_the_ttl_and_clear_forgets_it() {
        let cache = ApiKeyCache::default();
        let now = Utc::now();
        let h = ApiKeyCache::hash("rk_secret");
        cache.put(h, key(7), now);
        assert_eq!(cache.get(&h, now).map(|k| k.id), Some(7));
        assert!(cache.get(&ApiKeyCache::hash("rk_other"), now).is_none());
        assert!(cache.get(&h, now + TTL).is_none(), "expired at the TTL");
        cache.clear();
        assert!(cache.get(&h, now).is_none(), "cleared");
    }
}
