//! A short-lived cache of verified API keys, keyed by a per-process keyed hash of the key
//! (SipHash-2-4, 128 bits, under a random key drawn at start-up) — never the key itself. A
//! revoked key stops working within `TTL`.
//!
//! Every token-API request reads it, so it takes no lock all requests share for writing: a
//! sharded map read under its shard's read lock, and the key's row behind an `Arc` (a hit
//! copies a pointer, not the row's strings).
//!
//! Why not the key's SHA-256, as stored in the database: a hit needs only to tell a key this
//! process has verified (by its SHA-256, against the database) from any other, and a keyed hash
//! does that at a fraction of SHA-256's cost on every request (about 1,800 instructions of the
//! token API's cached path, BENCHMARKS.md). SipHash-2-4 is a pseudo-random function: without
//! the process's random key nobody can compute a fingerprint, so presenting a key that collides
//! with a cached one succeeds with probability 2⁻¹²⁸ per try, and the time a comparison takes
//! tells a caller nothing about any cached key. Keys are still stored only as SHA-256, and a
//! key not in the cache is verified against the database as before.

use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use dashmap::DashMap;
use domain::entity::api_key;
use rand::RngCore as _;
use siphasher::sip128::SipHasher24;

/// How long a verified key is trusted without asking the database again.
pub(crate) const TTL: Duration = Duration::seconds(10);

/// How many keys are kept before expired ones are swept out.
const SWEEP_ABOVE: usize = 10_000;

/// A presented key's fingerprint: SipHash-2-4-128 of its bytes under the cache's random key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Fingerprint(u128);

/// Hashes a [`Fingerprint`] for the map by taking its low 64 bits: it is already the output of
/// a keyed pseudo-random function, so hashing it again would add cost and nothing else.
#[derive(Default)]
struct FingerprintHasher(u64);

impl Hasher for FingerprintHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only reached for a type other than `u128`; folds the bytes in, so any key still works.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u128(&mut self, v: u128) {
        self.0 ^= v as u64;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Fingerprint → (the key's row, when it was verified).
type Entries = DashMap<
    Fingerprint,
    (Arc<api_key::Model>, DateTime<Utc>),
    BuildHasherDefault<FingerprintHasher>,
>;

#[derive(Clone)]
pub(crate) struct ApiKeyCache(Arc<Inner>);

struct Inner {
    /// The fingerprints' key, random for each process and never written anywhere.
    sip: SipHasher24,
    entries: Entries,
}

impl Default for ApiKeyCache {
    fn default() -> Self {
        let mut key = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self(Arc::new(Inner {
            sip: SipHasher24::new_with_key(&key),
            entries: Entries::default(),
        }))
    }
}

impl ApiKeyCache {
    /// The cache's key for a presented API key.
    pub(crate) fn fingerprint(&self, presented: &str) -> Fingerprint {
        Fingerprint(self.0.sip.hash(presented.as_bytes()).as_u128())
    }

    /// The key's row if it was verified less than `TTL` before `now`.
    pub(crate) fn get(&self, fp: Fingerprint, now: DateTime<Utc>) -> Option<Arc<api_key::Model>> {
        self.0
            .entries
            .get(&fp)
            .filter(|e| now - e.1 < TTL)
            .map(|e| e.0.clone())
    }

    /// Remembers a key just verified against the database.
    pub(crate) fn put(&self, fp: Fingerprint, k: Arc<api_key::Model>, now: DateTime<Utc>) {
        let entries = &self.0.entries;
        if entries.len() > SWEEP_ABOVE {
            entries.retain(|_, (_, at)| now - *at < TTL);
        }
        entries.insert(fp, (k, now));
    }

    /// Forgets every cached key (a key was revoked in this process: it stops at once here;
    /// other processes stop within `TTL`).
    pub(crate) fn clear(&self) {
        self.0.entries.clear();
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
        let h = cache.fingerprint("rk_secret");
        cache.put(h, key(7), now);
        assert_eq!(cache.get(h, now).map(|k| k.id), Some(7));
        assert!(cache.get(cache.fingerprint("rk_other"), now).is_none());
        assert!(cache.get(h, now + TTL).is_none(), "expired at the TTL");
        cache.clear();
        assert!(cache.get(h, now).is_none(), "cleared");
    }

    #[test]
    fn fingerprints_depend_on_the_process_key() {
        let (a, b) = (ApiKeyCache::default(), ApiKeyCache::default());
        // Compared with `==`: a fingerprint has no `Debug`, so it is never printed.
        assert!(a.fingerprint("rk_secret") == a.fingerprint("rk_secret"));
        assert!(a.fingerprint("rk_secret") != a.fingerprint("rk_secreu"));
        assert!(
            a.fingerprint("rk_secret") != b.fingerprint("rk_secret"),
            "two caches draw different keys"
        );
    }
}
