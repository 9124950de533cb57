//! `[partner]`: who the customer admins are dealing with, and the egress ranges reauth
//! publishes.

use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::date::toml_date;
use super::duration;

/// `[partner]`: who the customer admins are dealing with.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PartnerConfig {
    pub name: String,
    pub logo_url: String,
    pub support_email: String,
    /// reauth's static egress (CIDR), published at `/ip-ranges`: the partner puts them on the
    /// External Client App's refresh-token IP allowlist (`reauth ip-ranges allowlist`); a
    /// customer whose integration user has profile Login IP Ranges adds them there.
    pub egress_ranges: Vec<IpNet>,
    /// Ranges reauth will use from a date on: published (and on the allowlist) before they are
    /// used, announced to every org's admin `ip_change_notice` ahead.
    pub upcoming_egress_ranges: Vec<UpcomingRange>,
    /// How long before an upcoming range's `from` its `ip_change` notice goes out.
    #[serde(with = "duration")]
    pub ip_change_notice: Duration,
}

/// `{ cidr = "198.51.100.0/28", from = 2027-01-15 }`: a range reauth uses from that day (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UpcomingRange {
    pub cidr: IpNet,
    #[serde(deserialize_with = "toml_date")]
    pub from: chrono::NaiveDate,
}

impl PartnerConfig {
    /// `egress_ranges` written out (`203.0.113.0/28`), as pages, mail and reports show them.
    pub fn egress_range_texts(&self) -> Vec<String> {
        self.egress_ranges.iter().map(ToString::to_string).collect()
    }
}

impl Default for PartnerConfig {
    fn default() -> Self {
        Self {
            name: "Example Integrations".into(),
            logo_url: String::new(),
            support_email: "support@example.com".into(),
            egress_ranges: Vec::new(),
            upcoming_egress_ranges: Vec::new(),
            ip_change_notice: Duration::from_secs(14 * 86_400),
        }
    }
}
