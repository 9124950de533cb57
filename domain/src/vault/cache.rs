//! Decrypted access tokens by org, so the token API's hot path touches neither the database nor
//! Salesforce. Entries are trusted until `fresh_until`; a cut-over, a retirement, a revocation or
//! a forced refresh removes them — in this process at once, in the others through the
//! invalidation bus ([`super::invalidate`]).
//!
//! Each org has a generation, bumped by every removal. A caller reads it before it looks up the
//! connection to serve and may store what it got only if the generation is unchanged: a token
//! from the legacy connection read just before a cut-over can never be stored after it.

use std::collections::HashMap;
use std::sync::Mutex;

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

#[derive(Default)]
struct Entry {
    token: Option<AccessToken>,
    generation: u64,
}

/// The per-process cache.
#[derive(Default)]
pub struct TokenCache {
    by_org: Mutex<HashMap<String, Entry>>,
}

impl TokenCache {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // Every change is a single insert or field write, so a poisoned map is still consistent.
        self.by_org
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The org's token if it is still fresh at `now`.
    pub fn get(&self, org: &OrgId, now: DateTime<Utc>) -> Option<AccessToken> {
        self.map()
            .get(org.as_str())
            .and_then(|e| e.token.as_ref())
            .filter(|t| t.fresh_until > now)
            .cloned()
    }

    /// The org's generation: read it before choosing a connection, pass it to [`Self::put`].
    pub fn generation(&self, org: &OrgId) -> u64 {
        self.map().get(org.as_str()).map_or(0, |e| e.generation)
    }

    /// Stores a token unless the org's entries were invalidated since `generation` was read.
    /// Returns whether it was stored.
    pub fn put(&self, t: &AccessToken, generation: u64) -> bool {
        let mut map = self.map();
        let e = map.entry(t.org_id.as_str().to_owned()).or_default();
        if e.generation != generation {
            return false;
        }
        e.token = Some(t.clone());
        true
    }

    /// Drops the org's token and bumps its generation.
    pub fn forget(&self, org: &str) {
        let mut map = self.map();
        let e = map.entry(org.to_owned()).or_default();
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
            cache.get(&org, Utc::now()).map(|t| t.app),
            Some(ConnectionApp::Eca)
        );
    }
}
