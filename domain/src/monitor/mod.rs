//! The token-use monitor: reads each connection's LoginHistory and tells reauth's own refreshes
//! (the vault records each exchange's time and outcome) from anyone else's.
//!
//! It checks only connections reauth owns alone (active ones), reads only with an access token
//! the connection already holds and that is still fresh, and never causes an exchange: a
//! connection without a fresh token waits for the next sweep. Calibration learns the
//! `Application` value and the `LoginSubType` of our refreshes' rows from the rows that match
//! our exchanges; a connection where fewer than 95% of our exchanges show up is `blind`.
//!
//! Findings ([`classify::Finding`]): `token.foreign_use` and `token.foreign_use_attempt` (per org
//! and source IP), `egress.out_of_range` (partner-wide, per source IP, with the count of orgs),
//! `egress.refused` (partner-wide when our refreshes are refused with `Restricted IP` in several
//! orgs in one sweep; in a single org, that org needs attention), `monitor.blind` (per org),
//! and `usage.unusual` ([`usage`]).
//!
//! - this module: the sweep over every connection and the partner-wide findings;
//! - `check`: one connection's LoginHistory, its calibration, foreign-use alerts and state;
//! - [`classify`]: rows → findings; [`usage`]: unusual volumes; [`doctor`]: `reauth doctor`'s
//!   monitor checks; [`security_view`]: the Security page's model.

mod check;
pub mod classify;
pub mod doctor;
pub mod security_view;
pub mod usage;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use futures::StreamExt as _;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::alerts::{self, NewAlert, Raised, Severity};
use crate::entity::connection::{self, ConnectionStatus};
use crate::entity::monitor_count;
use crate::error::Result;
use crate::registry::state;
use crate::types::OrgId;
use crate::vault::Vault;
pub use check::FOREIGN_USE_STEPS;
use check::{Checked, check};

/// Share of our exchanges that must show up in LoginHistory for a connection to be trusted.
pub const COVERAGE: f64 = 0.95;
/// How far back coverage is measured.
pub const COVERAGE_WINDOW: chrono::Duration = chrono::Duration::days(7);
/// Rows younger than this are left for the next sweep: the vault records an exchange just after
/// Salesforce answers it, so a row may be visible a moment before its exchange is.
pub const SETTLE: chrono::Duration = chrono::Duration::seconds(30);
/// Pages of one LoginHistory read (2,000 rows each) at most; the rest is read next time.
const MAX_PAGES: u32 = 10;

/// The `LoginHistory` rows of the connection's user after `since`, read with `token` (see
/// [`crate::salesforce::SfClient::login_history`]).
async fn login_history(
    vault: &Vault,
    token: &crate::vault::AccessToken,
    c: &connection::Model,
    since: chrono::DateTime<chrono::Utc>,
    max_pages: u32,
) -> std::result::Result<(Vec<crate::salesforce::LoginRow>, u32), crate::salesforce::SfError> {
    let api_version = &vault.config().salesforce.api_version;
    vault
        .sf()
        .login_history(
            &token.instance_url,
            api_version,
            &token.token,
            &c.sf_user_id,
            since,
            max_pages,
        )
        .await
}
/// Several orgs refusing our refreshes in one sweep is our allowlist, not their setup.
const REFUSED_ORGS: usize = 2;

/// What one sweep did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Report {
    pub connections: u32,
    pub checked: u32,
    /// Skipped: no fresh access token (the monitor never refreshes for itself).
    pub no_fresh_token: u32,
    pub blind: u32,
    pub errors: u32,
    /// LoginHistory queries made (API calls in the customers' orgs).
    pub queries: u32,
    /// Rows by finding.
    pub rows: BTreeMap<String, u64>,
    /// Alerts newly raised (not repeats).
    pub new_alerts: u32,
}

/// Checks every connection reauth owns alone, then raises the partner-wide findings.
pub async fn sweep(vault: &Vault) -> Result<Report> {
    let db = vault.db();
    let config = vault.config();
    let now = vault.clock().now();
    let conns = connection::Entity::find()
        .filter(connection::Column::Status.eq(ConnectionStatus::Active))
        .order_by_asc(connection::Column::Id)
        .all(db)
        .await?;
    let mut per_instance: HashMap<String, Arc<tokio::sync::Semaphore>> = HashMap::new();
    let jobs: Vec<_> = conns
        .into_iter()
        .map(|c| {
            let host = url::Url::parse(&c.instance_url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default();
            let sem = per_instance
                .entry(host)
                .or_insert_with(|| {
                    Arc::new(tokio::sync::Semaphore::new(config.monitor.per_instance))
                })
                .clone();
            (c, sem)
        })
        .collect();
    let mut report = Report {
        connections: u32::try_from(jobs.len()).unwrap_or(u32::MAX),
        ..Report::default()
    };
    let results: Vec<Checked> = futures::stream::iter(jobs)
        .map(|(c, sem)| async move {
            let _permit = sem.acquire_owned().await;
            let id = c.id;
            let org = c.org_id.clone();
            match check(vault, c, now).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(connection_id = id, error = %e, "monitor check failed");
                    Checked {
                        org_id: Some(org),
                        error: true,
                        ..Checked::default()
                    }
                }
            }
        })
        .buffer_unordered(config.monitor.concurrency)
        .collect()
        .await;

    let mut refused_orgs = BTreeSet::new();
    let mut out_of_range: BTreeMap<String, BTreeSet<OrgId>> = BTreeMap::new();
    let mut ours_in_range = 0;
    let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
    for r in &results {
        report.checked += u32::from(r.checked);
        report.no_fresh_token += u32::from(r.no_token);
        report.blind += u32::from(r.blind);
        report.errors += u32::from(r.error);
        report.queries += r.queries;
        report.new_alerts += r.new_alerts;
        ours_in_range += r.ours_in_range;
        for (k, n) in &r.rows {
            *counts.entry(k).or_default() += n;
        }
        if let Some(org) = &r.org_id {
            if r.refused > 0 {
                refused_orgs.insert(org.clone());
            }
            for ip in &r.out_of_range {
                out_of_range
                    .entry(ip.clone())
                    .or_default()
                    .insert(org.clone());
            }
        }
    }
    report.rows = counts.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect();
    add_counts(vault, &counts).await?;

    // Partner-wide: our egress outside our ranges.
    for (ip, orgs) in &out_of_range {
        let n = i32::try_from(orgs.len()).unwrap_or(i32::MAX);
        let raised = alerts::raise_keyed(
            db,
            NewAlert {
                kind: "egress.out_of_range",
                severity: Severity::Critical,
                org_id: None,
                subject: Some(ip),
                message: format!(
                    "reauth's own refreshes reached Salesforce from {ip}, outside partner.egress_ranges ({}), in {}. Our NAT or proxy is misconfigured: fix the egress (salesforce.proxy) or, if {ip} is a new egress of ours, publish it first (partner.upcoming_egress_ranges).",
                    ranges_text(&config.partner.egress_ranges),
                    crate::wording::count(orgs.len() as u64, "org"),
                ),
                details: serde_json::json!({ "source_ip": ip, "orgs": orgs.iter().map(OrgId::as_str).collect::<Vec<_>>() }),
                affected_orgs: Some(n),
            },
            now,
        )
        .await?;
        report.new_alerts += u32::from(matches!(raised, Raised::New(_)));
    }
    if out_of_range.is_empty() && ours_in_range > 0 {
        alerts::resolve_kind(db, "egress.out_of_range", now).await?;
    }

    // Our refreshes refused for their address: in several orgs, our allowlist; in one, theirs.
    if refused_orgs.len() >= REFUSED_ORGS {
        let n = i32::try_from(refused_orgs.len()).unwrap_or(i32::MAX);
        let raised = alerts::raise_keyed(
            db,
            NewAlert {
                kind: "egress.refused",
                severity: Severity::Critical,
                org_id: None,
                subject: None,
                message: format!(
                    "Salesforce refused reauth's own refreshes with `Restricted IP` in {} within one monitor pass: the External Client App's refresh-token IP allowlist (the partner's setting, one for every subscriber org) is missing our egress. Compare `reauth ip-ranges allowlist` with the app's allowlist; this is not a customer case.",
                    crate::wording::count(refused_orgs.len() as u64, "org"),
                ),
                details: serde_json::json!({ "orgs": refused_orgs.iter().map(OrgId::as_str).collect::<Vec<_>>() }),
                affected_orgs: Some(n),
            },
            now,
        )
        .await?;
        report.new_alerts += u32::from(matches!(raised, Raised::New(_)));
    } else if let Some(org) = refused_orgs.first() {
        let reason = format!(
            "Salesforce refused reauth's refreshes for this org with `Restricted IP`, from our published egress. The customer's admin should add the ranges at {}/ip-ranges to the integration user's profile Login IP Ranges and check the app's IP relaxation policy.",
            config.base_url.as_str().trim_end_matches('/')
        );
        match state::needs_attention(db, org, reason, "customer", now).await {
            Ok(_) | Err(crate::Error::InvalidTransition { .. }) => {}
            Err(e) => return Err(e),
        }
    } else if ours_in_range > 0 {
        alerts::resolve_kind(db, "egress.refused", now).await?;
    }

    report.new_alerts += usage::check(db, config, now).await?;
    if report.connections > 0 {
        tracing::info!(
            connections = report.connections,
            checked = report.checked,
            no_fresh_token = report.no_fresh_token,
            blind = report.blind,
            queries = report.queries,
            "monitor sweep"
        );
    }
    Ok(report)
}

fn ranges_text(r: &[ipnet::IpNet]) -> String {
    if r.is_empty() {
        "none configured".into()
    } else {
        r.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

async fn add_counts(vault: &Vault, counts: &BTreeMap<&'static str, u64>) -> Result<()> {
    for (finding, n) in counts {
        let n = i64::try_from(*n).unwrap_or(i64::MAX);
        monitor_count::Entity::insert(monitor_count::ActiveModel {
            finding: Set((*finding).to_owned()),
            rows: Set(n),
        })
        .on_conflict(
            OnConflict::column(monitor_count::Column::Finding)
                .value(
                    monitor_count::Column::Rows,
                    Expr::col((monitor_count::Entity, monitor_count::Column::Rows)).add(n),
                )
                .to_owned(),
        )
        .exec_without_returning(vault.db())
        .await?;
    }
    Ok(())
}
