//! The Incident page: the breaker (tripped or not, what tripped it, the hour it judges) and,
//! for admins, the button that resumes it.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use http::StatusCode;

use super::CurrentStaff;
use super::view::{Nav, when};
use crate::AppState;
use crate::error::AppError;
use crate::pages::render;
use crate::security::redirect;

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
}

pub(crate) async fn page(
    State(state): State<AppState>,
    staff: CurrentStaff,
) -> Result<Response, AppError> {
    let b = domain::security::incident::breaker::status(&state.db, state.clock.now()).await?;
    let page = IncidentPage {
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
