//! `[links]`, `[campaign]` and `[mail]`: the re-auth links, the notice scheduler and how
//! notices leave.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;

use super::redact;

/// `[links]`: re-auth links.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinksConfig {
    #[serde(with = "duration")]
    pub ttl: Duration,
}

impl Default for LinksConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(14 * 86_400),
        }
    }
}

/// `[campaign]`: the notice scheduler.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CampaignConfig {
    #[serde(with = "duration")]
    pub tick: Duration,
    /// e.g. `20:00-08:00` in each contact's time zone; empty = off.
    pub quiet_hours: String,
}

impl Default for CampaignConfig {
    fn default() -> Self {
        Self {
            tick: Duration::from_secs(60),
            quiet_hours: String::new(),
        }
    }
}

/// `[mail]`: how notices leave.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// `log` | `file:///dir` | `smtp://host:port` | `smtps://user:pass@host:port`.
    #[serde(serialize_with = "redact::url_password")]
    pub transport: String,
    pub from: String,
    /// The longest one delivery may take, connecting included; a delivery still going at this
    /// point is abandoned and retried. A claimed notice's lease is twice this, so a sender that
    /// died holding one frees it after that long, and a live one never outlasts its lease.
    #[serde(with = "duration")]
    pub timeout: Duration,
}

impl MailConfig {
    /// How long a claimed notice stays its sender's: twice [`Self::timeout`].
    pub fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.timeout * 2).unwrap_or(chrono::Duration::minutes(5))
    }
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            transport: "log".into(),
            from: "Integrations <noreply@example.com>".into(),
            timeout: Duration::from_secs(30),
        }
    }
}
