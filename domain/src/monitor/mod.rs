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

pub mod classify;
pub mod doctor;
pub mod security_view;
pub mod usage;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::alerts::{self, NewAlert, Raised, Severity};
use crate::entity::connection::{self, ConnectionStatus};
use crate::entity::{exchange, monitor_count, monitor_state};
use crate::error::Result;
use crate::events::Actor;
use crate::registry::state::{self, Change};
use crate::types::OrgId;
use crate::vault::Vault;
use classify::{Finding, Ours, Shape};

/// Share of our exchanges that must show up in LoginHistory for a connection to be trusted.
pub const COVERAGE: f64 = 0.95;
/// How far back coverage is measured.
pub const COVERAGE_WINDOW: chrono::Duration = chrono::Duration::days(7);
/// Rows younger than this are left for the next sweep: the vault records an exchange just after
/// Salesforce answers it, so a row may be visible a moment before its exchange is.
pub const SETTLE: chrono::Duration = chrono::Duration::seconds(30);
/// Pages of one LoginHistory read (2,000 rows each) at most; the rest is read next time.
const MAX_PAGES: u32 = 10;
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

/// One connection's check.
#[derive(Debug, Default)]
struct Checked {
    org_id: Option<OrgId>,
    checked: bool,
    no_token: bool,
    blind: bool,
    error: bool,
    queries: u32,
    rows: BTreeMap<&'static str, u64>,
    ours_in_range: u32,
    refused: u32,
    /// Source IPs of our exchanges outside the ranges.
    out_of_range: BTreeSet<String>,
    new_alerts: u32,
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
        match state::apply(
            db,
            org,
            Change::NeedsAttention {
                reason,
                owner: "customer".into(),
            },
            &Actor::System,
            now,
        )
        .await
        {
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

/// What to tell people about a successful foreign refresh.
pub const FOREIGN_USE_STEPS: &str = "Do not revoke: the thief's refresh already rotated the token, so reauth's next exchange is a reuse and Salesforce ends the grant. 1) Rotate the client secret (a staged rotation: add the new secret to salesforce.client_secrets, then retire the old one in the External Client App). 2) The org is back in re-consent: its admin gets a reconnect link. 3) Ask the customer's admin to revoke the app's remaining tokens in Setup → Connected Apps OAuth Usage.";

/// Checks one connection.
async fn check(vault: &Vault, c: connection::Model, now: DateTime<Utc>) -> Result<Checked> {
    let db = vault.db();
    let config = vault.config();
    let mut out = Checked {
        org_id: Some(c.org_id.clone()),
        ..Checked::default()
    };
    let Some(token) = vault.fresh_access_for(c.id).await? else {
        out.no_token = true;
        return Ok(out);
    };
    let window = chrono::Duration::from_std(config.monitor.match_window)
        .unwrap_or(chrono::Duration::minutes(2));
    let st = monitor_state::Entity::find_by_id(c.id).one(db).await?;
    let known = Shape {
        application: st.as_ref().and_then(|s| s.application.clone()),
        login_sub_type: st.as_ref().and_then(|s| s.login_sub_type.clone()),
    };
    let since = Ord::max(
        st.as_ref()
            .and_then(|s| s.watermark)
            .unwrap_or(c.created_at - window),
        now - COVERAGE_WINDOW,
    );
    let read = vault
        .sf()
        .login_history(
            &token.instance_url,
            &config.salesforce.api_version,
            &token.token,
            &c.sf_user_id,
            since,
            MAX_PAGES,
        )
        .await;
    let (mut rows, queries) = match read {
        Ok(r) => r,
        Err(e) => {
            out.error = true;
            out.queries = 1;
            save_state(
                vault,
                &c,
                st.as_ref(),
                None,
                &known,
                None,
                1,
                Some(e.to_string()),
                now,
            )
            .await?;
            return Ok(out);
        }
    };
    out.checked = true;
    out.queries = queries;
    rows.retain(|r| r.login_time <= now - SETTLE);
    let unmatched: Vec<exchange::Model> = exchange::Entity::find()
        .filter(exchange::Column::ConnectionId.eq(c.id))
        .filter(exchange::Column::MatchedAt.is_null())
        .filter(exchange::Column::At.gte(since - window))
        .all(db)
        .await?;
    let ours: Vec<Ours> = unmatched
        .iter()
        .map(|e| Ours {
            id: e.id,
            at: e.at,
            outcome: e.outcome.clone(),
        })
        .collect();
    let ranges = &config.partner.egress_ranges;
    let got = classify::classify(&rows, &ours, &known, ranges, window);
    for (r, f) in rows.iter().zip(&got.findings) {
        *out.rows.entry(f.label()).or_default() += 1;
        match *f {
            Finding::Ours { exchange } | Finding::OutOfRange { exchange } => {
                exchange::Entity::update_many()
                    .col_expr(exchange::Column::MatchedAt, Expr::value(now))
                    .col_expr(exchange::Column::EgressIp, Expr::value(r.source_ip.clone()))
                    .filter(exchange::Column::Id.eq(exchange))
                    .exec(db)
                    .await?;
                if let Finding::OutOfRange { .. } = f {
                    out.out_of_range.insert(r.source_ip.clone());
                } else {
                    out.ours_in_range += 1;
                }
            }
            Finding::Refused => {
                // A matched refusal is ours too: count it as seen.
                if let Some(e) = ours
                    .iter()
                    .find(|e| e.outcome == "restricted_ip" && (r.login_time - e.at).abs() <= window)
                {
                    exchange::Entity::update_many()
                        .col_expr(exchange::Column::MatchedAt, Expr::value(now))
                        .col_expr(exchange::Column::EgressIp, Expr::value(r.source_ip.clone()))
                        .filter(exchange::Column::Id.eq(e.id))
                        .filter(exchange::Column::MatchedAt.is_null())
                        .exec(db)
                        .await?;
                }
                out.refused += 1;
            }
            Finding::ForeignUse => {
                out.new_alerts += foreign_use(vault, &c, r, now).await?;
            }
            Finding::ForeignUseAttempt => {
                let raised = alerts::raise_keyed(
                    db,
                    NewAlert {
                        kind: "token.foreign_use_attempt",
                        severity: Severity::Critical,
                        org_id: Some(&c.org_id),
                        subject: Some(&r.source_ip),
                        message: format!(
                            "Someone presented this org's refresh token from {} ({}) at {} and Salesforce refused it (`{}`): the allowlist or the client secret stopped them, but they hold a token. Rotate the client secret, and have the org re-consent so the token they hold dies.",
                            r.source_ip,
                            r.country_iso.as_deref().unwrap_or("country unknown"),
                            r.login_time.format("%Y-%m-%d %H:%M:%S UTC"),
                            r.status
                        ),
                        details: row_details(&c, r),
                        affected_orgs: None,
                    },
                    now,
                )
                .await?;
                out.new_alerts += u32::from(matches!(raised, Raised::New(_)));
            }
            Finding::Unclaimed | Finding::Other | Finding::Uncalibrated => {}
        }
    }
    let calibrated = got.shape.application.is_some() && got.shape.login_sub_type.is_some();
    // Uncalibrated, rows are kept for the next sweep (they are judged once our rows are known).
    let watermark = if calibrated {
        rows.iter().map(|r| r.login_time).max().or(Some(since))
    } else {
        Some(since)
    };
    // Coverage over the settled part of the window.
    let settled: Vec<exchange::Model> = exchange::Entity::find()
        .filter(exchange::Column::ConnectionId.eq(c.id))
        .filter(exchange::Column::At.gte(now - COVERAGE_WINDOW))
        .filter(exchange::Column::At.lte(now - window - SETTLE))
        .filter(exchange::Column::Outcome.is_in(["ok", "restricted_ip", "refused"]))
        .all(db)
        .await?;
    let expected = settled.len();
    let seen = settled.iter().filter(|e| e.matched_at.is_some()).count();
    let blind = expected > 0 && (seen as f64) < COVERAGE * expected as f64;
    out.blind = blind;
    let key = alerts::dedupe_key("monitor.blind", Some(&c.org_id), Some(&c.id.to_string()));
    if blind {
        let raised = alerts::raise_keyed(
            db,
            NewAlert {
                kind: "monitor.blind",
                severity: Severity::Warning,
                org_id: Some(&c.org_id),
                subject: Some(&c.id.to_string()),
                message: format!(
                    "Only {seen} of reauth's last {expected} exchanges for this connection show up in its LoginHistory: the monitor cannot vouch for this org's token (run `reauth doctor {}` to see what Salesforce records).",
                    c.org_id
                ),
                details: serde_json::json!({ "connection_id": c.id, "seen": seen, "expected": expected }),
                affected_orgs: None,
            },
            now,
        )
        .await?;
        out.new_alerts += u32::from(matches!(raised, Raised::New(_)));
    } else if expected > 0 {
        alerts::resolve_key(db, &key, now).await?;
    }
    let coverage = Some((
        i32::try_from(seen).unwrap_or(i32::MAX),
        i32::try_from(expected).unwrap_or(i32::MAX),
        blind,
    ));
    save_state(
        vault,
        &c,
        st.as_ref(),
        watermark,
        &got.shape,
        coverage,
        i64::from(queries),
        None,
        now,
    )
    .await?;
    Ok(out)
}

fn row_details(c: &connection::Model, r: &crate::salesforce::LoginRow) -> serde_json::Value {
    serde_json::json!({
        "connection_id": c.id,
        "source_ip": r.source_ip,
        "country": r.country_iso,
        "login_time": r.login_time.to_rfc3339(),
        "status": r.status,
        "application": r.application,
        "login_history_id": r.id,
    })
}

/// A successful refresh reauth did not make: alert, and put the org into re-consent.
async fn foreign_use(
    vault: &Vault,
    c: &connection::Model,
    r: &crate::salesforce::LoginRow,
    now: DateTime<Utc>,
) -> Result<u32> {
    let db = vault.db();
    let raised = alerts::raise_keyed(
        db,
        NewAlert {
            kind: "token.foreign_use",
            severity: Severity::Critical,
            org_id: Some(&c.org_id),
            subject: Some(&r.source_ip),
            message: format!(
                "A refresh of this org's token that reauth did not make succeeded from {} ({}) at {}. {FOREIGN_USE_STEPS}",
                r.source_ip,
                r.country_iso.as_deref().unwrap_or("country unknown"),
                r.login_time.format("%Y-%m-%d %H:%M:%S UTC"),
            ),
            details: row_details(c, r),
            affected_orgs: None,
        },
        now,
    )
    .await?;
    if let Raised::New(_) = raised {
        crate::events::record(
            db,
            now,
            &Actor::System,
            Some(&c.org_id),
            "token.foreign_use",
            row_details(c, r),
        )
        .await?;
        let reason = format!(
            "Someone else refreshed this org's token from {}: the grant is compromised and must be re-consented.",
            r.source_ip
        );
        match state::apply(
            db,
            &c.org_id,
            Change::NeedsReauth { reason },
            &Actor::System,
            now,
        )
        .await
        {
            Ok(_) | Err(crate::Error::InvalidTransition { .. }) => {}
            Err(e) => return Err(e),
        }
        crate::campaign::notices::enqueue(
            db,
            &c.org_id,
            crate::campaign::notices::NoticeKind::ReauthNeeded,
            format!("{}|foreign_use|{}", c.org_id, c.id),
            now,
        )
        .await?;
    }
    Ok(u32::from(matches!(raised, Raised::New(_))))
}

#[expect(
    clippy::too_many_arguments,
    reason = "the columns of one connection's monitor state, written in one statement"
)]
async fn save_state(
    vault: &Vault,
    c: &connection::Model,
    old: Option<&monitor_state::Model>,
    watermark: Option<DateTime<Utc>>,
    shape: &Shape,
    coverage: Option<(i32, i32, bool)>,
    queries: i64,
    error: Option<String>,
    now: DateTime<Utc>,
) -> Result<()> {
    let (seen, expected, blind) = coverage.unwrap_or((
        old.map_or(0, |o| o.seen),
        old.map_or(0, |o| o.expected),
        old.is_some_and(|o| o.blind),
    ));
    let model = monitor_state::ActiveModel {
        connection_id: Set(c.id),
        org_id: Set(c.org_id.clone()),
        watermark: Set(watermark.or(old.and_then(|o| o.watermark))),
        checked_at: Set(if error.is_none() {
            Some(now)
        } else {
            old.and_then(|o| o.checked_at)
        }),
        seen: Set(seen),
        expected: Set(expected),
        blind: Set(blind),
        application: Set(shape.application.clone()),
        login_sub_type: Set(shape.login_sub_type.clone()),
        queries: Set(old.map_or(0, |o| o.queries) + queries),
        last_error: Set(error),
    };
    monitor_state::Entity::insert(model)
        .on_conflict(
            OnConflict::column(monitor_state::Column::ConnectionId)
                .update_columns([
                    monitor_state::Column::Watermark,
                    monitor_state::Column::CheckedAt,
                    monitor_state::Column::Seen,
                    monitor_state::Column::Expected,
                    monitor_state::Column::Blind,
                    monitor_state::Column::Application,
                    monitor_state::Column::LoginSubType,
                    monitor_state::Column::Queries,
                    monitor_state::Column::LastError,
                ])
                .to_owned(),
        )
        .exec_without_returning(vault.db())
        .await?;
    Ok(())
}
