//! A short-lived cache of verified API keys, keyed by the key's SHA-256 (never the key itself).
//! A revoked key stops working within `TTL`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use domain::entity::api_key;
use sha2::{Digest, Sha256};

/// How long a verified key is trusted without asking the database again.
pub(crate) const TTL: Duration = Duration::seconds(10);

/// Key hash → (the key's row, when it was verified).
type Entries = HashMap<[u8; 32], (api_key::Model, DateTime<Utc>)>;

#[derive(Clone, Default)]
pub(crate) struct ApiKeyCache(Arc<Mutex<Entries>>);

impl ApiKeyCache {
    fn key(presented: &str) -> [u8; 32] {
        Sha256::digest(presented.as_bytes()).into()
    }

    pub(crate) fn get(&self, presented: &str, now: DateTime<Utc>) -> Option<api_key::Model> {
        let map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(&Self::key(presented))
            .filter(|(_, at)| now - *at < TTL)
            .map(|(k, _)| k.clone())
    }

    pub(crate) fn put(&self, presented: &str, k: &api_key::Model, now: DateTime<Utc>) {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() > 10_000 {
            map.retain(|_, (_, at)| now - *at < TTL);
        }
        map.insert(Self::key(presented), (k.clone(), now));
    }
}

impl ApiKeyCache {
    /// Forgets every cached key (a key was revoked in this process: it stops at once here;
    /// other processes stop within `TTL`).
    pub(crate) fn clear(&self) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }
}
