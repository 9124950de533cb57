//! `[api]`: the token API's own limits.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;

/// `[api]`: the token API.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// The longest a token-API call waits for its answer. Past it the caller gets 503 with
    /// `Retry-After`, while the exchange, the probe and the persist finish in the background
    /// (the vault counts such answers: `reauth_api_deadline_missed_total`).
    #[serde(with = "duration")]
    pub deadline: Duration,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(15),
        }
    }
}
