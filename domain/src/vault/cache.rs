//! Decrypted access tokens by org, so the token API's hot path touches neither the database nor
//! Salesforce. Entries are trusted until `fresh_until`; a cut-over, a revocation or a forced
//! refresh removes them.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use crate::types::OrgId;

/// A usable access token.
#[derive(Clone)]
pub struct AccessToken {
    pub org_id: OrgId,
    /// The connection it came from.
    pub connection_id: i64,
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
            .field("issued_at", &self.issued_at)
            .finish_non_exhaustive()
    }
}

/// The per-process cache.
#[derive(Default)]
pub struct TokenCache {
    by_org: Mutex<HashMap<String, AccessToken>>,
}

impl TokenCache {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, AccessToken>> {
        // Every change is a single insert or remove, so a poisoned map is still consistent.
        self.by_org
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The org's token if it is still fresh at `now`.
    pub fn get(&self, org: &OrgId, now: DateTime<Utc>) -> Option<AccessToken> {
        self.map()
            .get(org.as_str())
            .filter(|t| t.fresh_until > now)
            .cloned()
    }

    pub fn put(&self, t: &AccessToken) {
        self.map().insert(t.org_id.as_str().to_owned(), t.clone());
    }

    pub fn forget(&self, org: &str) {
        self.map().remove(org);
    }
}
