//! Decrypted access tokens by org, so the token API's hot path touches neither the database nor
//! Salesforce. Entries are trusted until `fresh_until`; a cut-over, a retirement, a revocation or
//! a forced refresh removes them — in this process at once, in the others through the
//! invalidation bus ([`super::invalidate`]).
//!
//! Each org has a generation, bumped by every removal. A caller reads it before it looks up the
//! connection to serve and may store what it got only if the generation is unchanged: a token
//! from the legacy connection read just before a cut-over can never be stored after it.
//!
//! The token API reads this on every call, so a read takes no lock every request shares for
//! writing: the map is sharded (a read takes its shard's read lock) and a hit hands out the
//! token behind an `Arc` instead of copying its strings.

use std::sync::Arc;

use dashmap::DashMap;

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use crate::entity::connection::ConnectionApp;
use crate::types::OrgId;

/// A usable access token.
#[derive(Clone)]
pub struct AccessToken {
    pub org_id: OrgId,
    /// The connection it came from, and that connection's app.
    pub connection_id: i64,
    pub app: ConnectionApp,
    /// The Salesforce user the grant belongs to.
    pub sf_user_id: String,
    pub token: SecretString,
    pub instance_url: String,
    pub issued_at: DateTime<Utc>,
    /// Until when reauth treats it as fresh.
    pub fresh_until: DateTime<Utc>,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("org_id", &self.org_id)
            .field("connection_id", &self.connection_id)
            .field("app", &self.app)
            .field("issued_at", &self.issued_at)
            .finish_non_exhaustive()
    }
}

/// A cached token, and the token API's answer for it once rendered: an answer is the same
/// bytes for as long as the token is cached, so it is written once, not on every call. Both
/// go when the entry goes.
pub struct Cached {
    pub token: AccessToken,
    rendered: std::sync::OnceLock<bytes::Bytes>,
}

impl Cached {
    fn new(token: AccessToken) -> Self {
        Self {
            token,
            rendered: std::sync::OnceLock::new(),
        }
    }

    /// The answer's bytes, rendered by `render` on first use.
    pub fn rendered(&self, render: impl FnOnce(&AccessToken) -> bytes::Bytes) -> bytes::Bytes {
        self.rendered.get_or_init(|| render(&self.token)).clone()
    }
}

#[derive(Default)]
struct Entry {
    token: Option<Arc<Cached>>,
    generation: u64,
}

/// The per-process cache. Each method holds one shard's lock for one lookup or one write, so
/// a generation check and the store it guards are one step.
#[derive(Default)]
pub struct TokenCache {
    by_org: DashMap<String, Entry>,
}

impl TokenCache {
    /// The org's token if it is still fresh at `now`.
    pub fn get(&self, org: &OrgId, now: DateTime<Utc>) -> Option<Arc<Cached>> {
        self.by_org
            .get(org.as_str())
            .and_then(|e| e.token.clone())
            .filter(|c| c.token.fresh_until > now)
    }

    /// The org's generation: read it before choosing a connection, pass it to [`Self::put`].
    pub fn generation(&self, org: &OrgId) -> u64 {
        self.by_org.get(org.as_str()).map_or(0, |e| e.generation)
    }

    /// Stores a token unless the org's entries were invalidated since `generation` was read.
    /// Returns whether it was stored.
    pub fn put(&self, t: &AccessToken, generation: u64) -> bool {
        let mut e = self.by_org.entry(t.org_id.as_str().to_owned()).or_default();
        if e.generation != generation {
            return false;
        }
        e.token = Some(Arc::new(Cached::new(t.clone())));
        true
    }

    /// Drops the org's token and bumps its generation.
    pub fn forget(&self, org: &str) {
        let mut e = self.by_org.entry(org.to_owned()).or_default();
        e.token = None;
        e.generation = e.generation.wrapping_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(org: &OrgId, app: ConnectionApp) -> AccessToken {
        let now = Utc::now();
        AccessToken {
            org_id: org.clone(),
            connection_id: 1,
            app,
            sf_user_id: "005000000000001".into(),
            token: SecretString::from("t"),
            instance_url: "https://x.my.salesforce.com".into(),
            issued_at: now,
            fresh_until: now + chrono::Duration::hours(1),
        }
    }

    #[test]
    fn a_token_read_before_an_invalidation_is_not_stored_after_it() {
        let cache = TokenCache::default();
        let org = OrgId::parse("00D000000000001").unwrap();
        let before = cache.generation(&org);
        cache.forget(org.as_str());
        assert!(!cache.put(&token(&org, ConnectionApp::Legacy), before));
        assert!(cache.get(&org, Utc::now()).is_none());
        let after = cache.generation(&org);
        assert!(cache.put(&token(&org, ConnectionApp::Eca), after));
        assert_eq!(
            cache.get(&org, Utc::now()).map(|c| c.token.app),
            Some(ConnectionApp::Eca)
        );
    }
}
