//! The Security page: what the token-use monitor found, and the ranges as published.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use domain::entity::alert;
use domain::ip_ranges::Document;
use domain::monitor::security_view::Checked;
use http::StatusCode;

use super::CurrentStaff;
use super::view::{Nav, when};
use crate::AppState;
use crate::error::AppError;
use crate::pages::render;

struct AlertRow {
    id: i64,
    kind: String,
    severity: String,
    message: String,
    org_id: Option<String>,
    affected_orgs: Option<i32>,
    source_ip: Option<String>,
    country: Option<String>,
    occurrences: i32,
    first: String,
    last: String,
    resolves: &'static str,
    acknowledged_by: Option<String>,
}

struct ConnRow {
    connection_id: i64,
    org_id: String,
    org_name: String,
    checked: String,
    blind: bool,
    coverage: String,
    queries: i64,
    last_error: Option<String>,
}

#[derive(Template)]
#[template(path = "staff/security.html")]
struct SecurityPage {
    nav: Nav,
    by_kind: Vec<(String, String, u64)>,
    foreign: Vec<AlertRow>,
    others: Vec<AlertRow>,
    connections: Vec<ConnRow>,
    connections_total: u64,
    blind_total: u64,
    queries_total: i64,
    monitor_every: String,
    monitor_enabled: bool,
    current: Vec<String>,
    upcoming: Vec<(String, String)>,
    sync_token: String,
}

/// One open alert, with the address and country a foreign use carries.
fn alert_row(a: &alert::Model) -> AlertRow {
    AlertRow {
        id: a.id,
        kind: a.kind.clone(),
        severity: a.severity.as_str().to_owned(),
        message: a.message.clone(),
        org_id: a.org_id.as_ref().map(ToString::to_string),
        affected_orgs: a.affected_orgs,
        source_ip: a.details["source_ip"].as_str().map(str::to_owned),
        country: a.details["country"].as_str().map(str::to_owned),
        occurrences: a.occurrences,
        first: when(&a.created_at),
        last: when(&a.last_seen_at.unwrap_or(a.created_at)),
        resolves: domain::alerts::resolves_when(&a.kind),
        acknowledged_by: a.acknowledged_by.clone(),
    }
}

/// One connection as the monitor last checked it.
fn conn_row(c: &Checked) -> ConnRow {
    ConnRow {
        connection_id: c.connection_id,
        org_id: c.org_id.clone(),
        org_name: c.org_name.clone(),
        checked: c
            .checked_at
            .as_ref()
            .map(when)
            .unwrap_or_else(|| "never".into()),
        blind: c.blind,
        coverage: if c.expected == 0 {
            "no exchange to check yet".into()
        } else {
            format!("{} of {} exchanges seen", c.seen, c.expected)
        },
        queries: c.queries,
        last_error: c.last_error.clone(),
    }
}

/// The published ranges still to come, as (CIDR, the day they take effect).
fn upcoming(doc: &Document) -> Vec<(String, String)> {
    doc.upcoming
        .iter()
        .map(|p| {
            (
                p.cidr.clone(),
                p.from.map(|d| d.to_string()).unwrap_or_default(),
            )
        })
        .collect()
}

pub(crate) async fn page(
    State(state): State<AppState>,
    staff: CurrentStaff,
) -> Result<Response, AppError> {
    let v = domain::monitor::security_view::view(&state.db).await?;
    let doc = domain::ip_ranges::document(&state.db, &state.config, state.clock.now()).await?;
    let (foreign, others): (Vec<_>, Vec<_>) = v
        .open
        .iter()
        .partition(|a| a.kind.starts_with("token.foreign_use"));
    let page = SecurityPage {
        nav: Nav::new(&state, &staff, "security"),
        by_kind: v.by_kind,
        foreign: foreign.into_iter().map(alert_row).collect(),
        others: others.into_iter().map(alert_row).collect(),
        connections: v.connections.iter().map(conn_row).collect(),
        connections_total: v.connections_total,
        blind_total: v.blind_total,
        queries_total: v.queries_total,
        monitor_every: domain::config::format_duration(state.config.monitor.every),
        monitor_enabled: state.config.monitor.enabled,
        current: doc.prefixes.iter().map(|p| p.cidr.clone()).collect(),
        upcoming: upcoming(&doc),
        sync_token: doc.sync_token,
    };
    Ok(render(StatusCode::OK, &page))
}
