//! Evidence from what reauth did, for Salesforce's Security Review and the partner's security
//! team: one [`build`] call gathers every figure of the compliance report from reauth's own
//! tables (consent events, the vault's exchange records, connections, the monitor's matches,
//! staff, alerts) and the running configuration into a typed [`Report`]; [`render`] turns it
//! into Markdown or HTML (askama, `templates/compliance/`), and serde into JSON.
//!
//! Every figure names its source and, when the data it needs is absent (the monitor never ran,
//! a date was never configured), says so with [`Verdict::NoData`] instead of claiming 100%.
//! No secret is ever part of a [`Report`]: keys appear by id, client secrets by fingerprint.

mod figures;
mod period;
pub mod render;
mod secured;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::ConnectionTrait;
use serde::Serialize;

use crate::config::Config;
use crate::entity::connection::ConnectionApp;
use crate::error::Result;

pub use period::Period;
pub use secured::{AppSecrets, Secured};

/// A check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    /// The data the check needs is not there (yet); never read as a pass.
    NoData,
}

impl Verdict {
    /// The stored spelling (`pass`, `fail`, `no_data`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::NoData => "no_data",
        }
    }
}

/// A share of records that meet a control (`yes` of `yes + no`; rows written before the fact
/// was recorded count as `not_recorded` and are left out of the share).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Share {
    pub total: u64,
    pub yes: u64,
    pub no: u64,
    pub not_recorded: u64,
    /// `yes / (yes + no)` in percent, one decimal; `None` when nothing was recorded.
    pub percent: Option<f64>,
    pub verdict: Verdict,
}

impl Share {
    /// A share that must be 100% to pass.
    pub(crate) fn all_must(yes: u64, no: u64, not_recorded: u64) -> Self {
        let recorded = yes + no;
        let percent = (recorded > 0).then(|| percent(yes, recorded));
        Self {
            total: recorded + not_recorded,
            yes,
            no,
            not_recorded,
            percent,
            verdict: match (recorded, no) {
                (0, _) => Verdict::NoData,
                (_, 0) => Verdict::Pass,
                _ => Verdict::Fail,
            },
        }
    }

    /// The percentage as the report prints it (`100%`, `66.7%`), or `None`.
    pub fn percent_text(&self) -> Option<String> {
        self.percent.map(percent_text)
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    #[expect(
        clippy::cast_precision_loss,
        reason = "counts of rows stay far below 2^52"
    )]
    let p = part as f64 * 100.0 / whole as f64;
    (p * 10.0).round() / 10.0
}

fn percent_text(p: f64) -> String {
    if p.fract() == 0.0 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

/// Idle gaps of the External Client App's connections: the longest time between consecutive
/// successful uses (the consent, then each successful refresh), and from the last one to now
/// for a live connection, among the gaps that overlap the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Idle {
    /// Connections with at least one gap in the period.
    pub connections: u64,
    pub longest_secs: Option<i64>,
    /// In days, one decimal.
    pub longest_days: Option<f64>,
    pub longest_connection_id: Option<i64>,
    pub longest_org_id: Option<String>,
    /// `heartbeat.idle_timeout`, in days.
    pub timeout_days: f64,
    /// The gap from which a connection "came within 3 days" of the timeout, in days.
    pub near_days: f64,
    /// Connections with a gap at least `near_days` long.
    pub near_limit: u64,
    pub verdict: Verdict,
}

/// Where reauth's exchanges came from, as the token-use monitor matched them in LoginHistory.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Egress {
    /// Exchanges that reached Salesforce in the period (`ok`, `refused`, `restricted_ip`).
    pub exchanges: u64,
    /// Of those, matched by the monitor (so their source address is known): inside and outside
    /// `partner.egress_ranges`; the rest are `not_recorded`.
    pub share: Share,
    /// Source addresses outside the ranges.
    pub outside_ips: Vec<String>,
    pub ranges: Vec<String>,
    pub monitor_enabled: bool,
}

/// Secrets at rest in one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SealedTable {
    pub table: &'static str,
    /// Rows holding a secret, sealed under a configured key.
    pub sealed: u64,
    /// Rows holding a secret without a key id (not sealed).
    pub unsealed: u64,
    /// Rows sealed under a key id the configuration no longer has (cannot be opened).
    pub unknown_key: u64,
    /// Rows per key id.
    pub by_key: Vec<(String, u64)>,
}

/// Tokens and other secrets at rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AtRest {
    pub tables: Vec<SealedTable>,
    pub sealed: u64,
    pub unsealed: u64,
    pub unknown_key: u64,
    /// Rows per key id over every table.
    pub by_key: Vec<(String, u64)>,
    pub verdict: Verdict,
}

/// Staff and their second factor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Staff {
    /// Staff users not disabled.
    pub active: u64,
    pub with_two_factor: u64,
    /// Those without, by email.
    pub without: Vec<String>,
    pub verdict: Verdict,
}

/// The age of a secret against its rotation policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Age {
    /// What is rotated: `eca` or `legacy` client secret, or `encryption_key`.
    pub subject: String,
    /// The config key that records the rotation date.
    pub rotated_key: String,
    /// The key id (encryption key) or how many secrets are configured.
    pub newest: Option<String>,
    pub rotated_at: Option<NaiveDate>,
    pub age_days: Option<i64>,
    pub every_days: i64,
    pub due: Option<NaiveDate>,
    pub verdict: Verdict,
}

/// Open critical alerts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alerts {
    pub open_critical: u64,
    /// Of those, acknowledged by someone.
    pub acknowledged: u64,
    /// Open critical alerts per kind.
    pub kinds: Vec<(String, u64)>,
    pub verdict: Verdict,
}

/// How many checks ended how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Summary {
    pub pass: u64,
    pub fail: u64,
    pub no_data: u64,
}

/// The whole compliance report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub generated_at: DateTime<Utc>,
    pub period: Period,
    pub partner: String,
    pub summary: Summary,
    /// Consents (`consent.completed` events) that used PKCE S256.
    pub pkce: Share,
    /// Successful External Client App refreshes where Salesforce rotated the refresh token.
    pub rotation: Share,
    pub idle: Idle,
    pub egress: Egress,
    pub at_rest: AtRest,
    pub staff: Staff,
    /// The client secrets (External Client App, and the legacy app when configured).
    pub client_secrets: Vec<Age>,
    pub encryption_key: Age,
    pub alerts: Alerts,
    /// How secrets are secured, from the running configuration (nothing secret in it).
    pub secured: Secured,
}

impl Report {
    fn verdicts(&self) -> Vec<Verdict> {
        let mut v = vec![
            self.pkce.verdict,
            self.rotation.verdict,
            self.idle.verdict,
            self.egress.share.verdict,
            self.at_rest.verdict,
            self.staff.verdict,
        ];
        v.extend(self.client_secrets.iter().map(|a| a.verdict));
        v.push(self.encryption_key.verdict);
        v.push(self.alerts.verdict);
        v
    }

    /// Whether any check failed.
    pub fn fails(&self) -> bool {
        self.summary.fail > 0
    }
}

/// Builds the report for `period` from the database and the running configuration.
pub async fn build<C: ConnectionTrait>(
    db: &C,
    config: &Config,
    period: Period,
    now: DateTime<Utc>,
) -> Result<Report> {
    let today = now.date_naive();
    let mut report = Report {
        generated_at: now,
        partner: config.partner.name.clone(),
        pkce: figures::pkce(db, &period).await?,
        rotation: figures::rotation(db, &period, ConnectionApp::Eca).await?,
        idle: figures::idle(db, config, &period, now).await?,
        egress: figures::egress(db, config, &period).await?,
        at_rest: figures::at_rest(db, config).await?,
        staff: figures::staff(db).await?,
        client_secrets: figures::client_secrets(db, config, today).await?,
        encryption_key: figures::encryption_key(config, today),
        alerts: figures::alerts(db).await?,
        secured: secured::from_config(config, db.get_database_backend()),
        period,
        summary: Summary::default(),
    };
    for v in report.verdicts() {
        match v {
            Verdict::Pass => report.summary.pass += 1,
            Verdict::Fail => report.summary.fail += 1,
            Verdict::NoData => report.summary.no_data += 1,
        }
    }
    Ok(report)
}
