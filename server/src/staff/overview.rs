//! The overview: where the rollout stands, at a glance.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use domain::entity::alert;
use domain::staff::dashboard::{Expiry, WaveProgress};
use http::StatusCode;

use super::view::{Nav, day, days_until, when};
use super::{CurrentStaff, charts};
use crate::AppState;
use crate::error::AppError;
use crate::pages::render;
use crate::security::redirect;

struct StateCount {
    state: &'static str,
    count: u64,
    colour: &'static str,
}

struct WaveCard {
    name: String,
    enc_name: String,
    total: u64,
    remaining: u64,
    deadline: Option<String>,
    days_left: Option<i64>,
    paused: bool,
    chart: String,
}

struct ExpiryRow {
    org_id: String,
    org_name: String,
    status: String,
    last_exchange: String,
    days_left: i64,
}

struct AlertRow {
    id: i64,
    severity: String,
    message: String,
    org_id: Option<String>,
    created: String,
    acknowledged_by: Option<String>,
}

#[derive(Template)]
#[template(path = "staff/overview.html")]
struct OverviewPage {
    nav: Nav,
    total: u64,
    states: Vec<StateCount>,
    funnel: String,
    waves: Vec<WaveCard>,
    connections: Vec<(String, u64)>,
    expiries: Vec<ExpiryRow>,
    failures: Vec<(String, u64)>,
    alerts: Vec<AlertRow>,
    open_alerts: u64,
    /// `mail.transport = "log"`: notices are only logged, no mail leaves.
    mail_not_delivered: bool,
}

/// One wave's card, with its burn-down chart.
fn wave_card(w: &WaveProgress, now: DateTime<Utc>) -> WaveCard {
    WaveCard {
        name: w.name.clone(),
        enc_name: super::view::enc(&w.name),
        total: w.total,
        remaining: w.remaining,
        deadline: w.deadline.as_ref().map(day),
        days_left: w.deadline.as_ref().map(|d| days_until(d, now)),
        paused: w.paused,
        chart: charts::burn_down(w, now),
    }
}

/// One connection close to Salesforce's idle timeout.
fn expiry_row(e: &Expiry, now: DateTime<Utc>) -> ExpiryRow {
    ExpiryRow {
        org_id: e.org_id.to_string(),
        org_name: e.org_name.clone(),
        status: e.status.clone(),
        last_exchange: when(&e.last_exchange_at),
        days_left: days_until(&e.idle_expires_at, now),
    }
}

/// One open alert.
fn alert_row(a: &alert::Model) -> AlertRow {
    AlertRow {
        id: a.id,
        severity: a.severity.as_str().to_owned(),
        message: a.message.clone(),
        org_id: a.org_id.as_ref().map(ToString::to_string),
        created: when(&a.created_at),
        acknowledged_by: a.acknowledged_by.clone(),
    }
}

pub(crate) async fn page(
    State(state): State<AppState>,
    staff: CurrentStaff,
) -> Result<Response, AppError> {
    let now = state.clock.now();
    let o = state
        .overview
        .get(&state.db, now, state.config.heartbeat.idle_timeout)
        .await?;
    let page = OverviewPage {
        nav: Nav::new(&state, &staff, "overview"),
        mail_not_delivered: state.config.mail.transport == "log",
        total: o.total,
        states: o
            .by_state
            .iter()
            .map(|(s, n)| StateCount {
                state: s.as_str(),
                count: *n,
                colour: charts::state_colour(s.as_str()),
            })
            .collect(),
        funnel: charts::funnel(&o.funnel),
        waves: o.waves.iter().map(|w| wave_card(w, now)).collect(),
        connections: o.connections_by_status.clone(),
        expiries: o
            .soonest_expiries
            .iter()
            .map(|e| expiry_row(e, now))
            .collect(),
        failures: o.failures_by_class.clone(),
        alerts: o.open_alerts.iter().map(alert_row).collect(),
        open_alerts: o.open_alert_count,
    };
    Ok(render(StatusCode::OK, &page))
}

pub(crate) async fn acknowledge(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    domain::alerts::acknowledge(&state.db, id, &staff.actor(), state.clock.now()).await?;
    Ok(redirect("/#alerts"))
}
