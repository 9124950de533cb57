//! `[heartbeat]`: keeping refresh tokens from idling out.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;

/// `[heartbeat]`: keeping refresh tokens from idling out.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeartbeatConfig {
    /// Most time allowed between two refresh-token exchanges.
    #[serde(with = "duration")]
    pub interval: Duration,
    /// Salesforce's idle policy, for "days until idle expiry".
    #[serde(with = "duration")]
    pub idle_timeout: Duration,
    #[serde(with = "duration")]
    pub sweep_every: Duration,
    /// Refreshes in flight at once, overall.
    pub concurrency: usize,
    /// Refreshes in flight at once against one Salesforce instance.
    pub per_instance: usize,
    /// Forced refreshes closer than this to the last exchange are debounced.
    #[serde(with = "duration")]
    pub min_gap: Duration,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(25 * 86_400),
            idle_timeout: Duration::from_secs(30 * 86_400),
            sweep_every: Duration::from_secs(600),
            concurrency: 16,
            per_instance: 4,
            min_gap: Duration::from_secs(10),
        }
    }
}
