//! The Incident page: the breaker (tripped or not, what tripped it, the hour it judges) and,
//! for admins, the button that resumes it; the open incident's progress (revoked, notified,
//! re-consented) and its close button, or the form that starts one (a reason, `--revoke`, and
//! the typed confirmation word).

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use http::StatusCode;

use super::view::{Nav, when};
use super::{CurrentStaff, FormData};
use crate::AppState;
use crate::error::AppError;
use crate::pages::render;
use crate::security::redirect;
use domain::security::incident::incidents::{self, CONFIRM_WORD, IncidentView};

#[derive(Template)]
#[template(path = "staff/incident.html")]
struct IncidentPage {
    nav: Nav,
    tripped_at: Option<String>,
    exchanges: i32,
    refused: i32,
    window_exchanges: u64,
    window_refused: u64,
    breaker: String,
    floor: u32,
    resumed: Option<(String, String)>,
    incident: Option<IncidentView>,
    started_at: String,
    confirm_word: &'static str,
    /// An incident is open (no start form then).
    open: bool,
}

pub(crate) async fn page(
    State(state): State<AppState>,
    staff: CurrentStaff,
) -> Result<Response, AppError> {
    let d = incidents::dashboard(&state.db, state.clock.now()).await?;
    let b = d.breaker;
    let page = IncidentPage {
        started_at: d
            .incident
            .as_ref()
            .map(|i| when(&i.started_at))
            .unwrap_or_default(),
        open: d.incident.as_ref().is_some_and(|i| i.state == "open"),
        incident: d.incident,
        confirm_word: CONFIRM_WORD,
        nav: Nav::new(&state, &staff, "incident"),
        tripped_at: b.tripped_at.as_ref().map(when),
        exchanges: b.exchanges.unwrap_or_default(),
        refused: b.refused.unwrap_or_default(),
        window_exchanges: b.window_exchanges,
        window_refused: b.window_refused,
        breaker: state.config.incident.breaker.clone(),
        floor: state.config.incident.breaker_floor,
        resumed: b
            .resumed_at
            .as_ref()
            .map(|t| (when(t), b.resumed_by.clone().unwrap_or_default())),
    };
    Ok(render(StatusCode::OK, &page))
}

pub(crate) async fn resume(
    State(state): State<AppState>,
    staff: CurrentStaff,
) -> Result<Response, AppError> {
    domain::security::incident::breaker::resume(&state.db, &staff.actor(), state.clock.now())
        .await?;
    Ok(redirect("/incident"))
}

/// Starts an incident (admin): a reason, the revoke box, and the typed confirmation word.
pub(crate) async fn start(
    State(state): State<AppState>,
    staff: CurrentStaff,
    form: FormData,
) -> Result<Response, AppError> {
    incidents::start_confirmed(
        &state.db,
        &state.config,
        &staff.actor(),
        form.get("reason").unwrap_or_default(),
        form.get("revoke") == Some("on"),
        form.get("confirm").unwrap_or_default(),
        state.clock.now(),
    )
    .await?;
    Ok(redirect("/incident"))
}

/// Closes the open incident (admin).
pub(crate) async fn close(
    State(state): State<AppState>,
    staff: CurrentStaff,
) -> Result<Response, AppError> {
    incidents::close(&state.db, &staff.actor(), state.clock.now()).await?;
    Ok(redirect("/incident"))
}
