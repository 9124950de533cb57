//! One connection's check: its LoginHistory since the last sweep, calibrated and classified,
//! the foreign-use alerts it raises, and the per-connection state the next sweep starts from.

use super::classify::{self, Finding, Ours, Shape};
use super::{COVERAGE, COVERAGE_WINDOW, MAX_PAGES, SETTLE};
use crate::alerts::{self, NewAlert, Raised, Severity};
use crate::entity::connection;
use crate::entity::{exchange, monitor_state};
use crate::error::Result;
use crate::events::Actor;
use crate::registry::state::{self, Change};
use crate::types::OrgId;
use crate::vault::Vault;
use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use std::collections::{BTreeMap, BTreeSet};

/// One connection's check.
#[derive(Debug, Default)]
pub(super) struct Checked {
    pub(super) org_id: Option<OrgId>,
    pub(super) checked: bool,
    pub(super) no_token: bool,
    pub(super) blind: bool,
    pub(super) error: bool,
    pub(super) queries: u32,
    pub(super) rows: BTreeMap<&'static str, u64>,
    pub(super) ours_in_range: u32,
    pub(super) refused: u32,
    /// Source IPs of our exchanges outside the ranges.
    pub(super) out_of_range: BTreeSet<String>,
    pub(super) new_alerts: u32,
}

/// What to tell people about a successful foreign refresh.
pub const FOREIGN_USE_STEPS: &str = "Do not revoke: the thief's refresh already rotated the token, so reauth's next exchange is a reuse and Salesforce ends the grant. 1) Rotate the client secret (a staged rotation: add the new secret to salesforce.client_secrets, then retire the old one in the External Client App). 2) The org is back in re-consent: its admin gets a reconnect link. 3) Ask the customer's admin to revoke the app's remaining tokens in Setup → Connected Apps OAuth Usage.";

/// Checks one connection.
#[tracing::instrument(skip_all, fields(org_id = %c.org_id, connection = c.id))]
pub(super) async fn check(
    vault: &Vault,
    c: connection::Model,
    now: DateTime<Utc>,
) -> Result<Checked> {
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
    let read = super::login_history(vault, &token, &c, since, MAX_PAGES).await;
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
    let ours: Vec<Ours> = unmatched.iter().map(Ours::from).collect();
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
