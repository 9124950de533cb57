//! `/ip-ranges` (for customer admins) and `/ip-ranges.json` (for machines): the partner's
//! current and upcoming egress ranges, with a `sync_token` that changes with the list.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::StatusCode;

use crate::AppState;
use crate::error::AppError;
use crate::pages::{Brand, render};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/ip-ranges", get(page))
        .route("/ip-ranges.json", get(json))
}

#[derive(Template)]
#[template(path = "ip_ranges.html")]
struct Page {
    brand: Brand,
    doc: domain::ip_ranges::Document,
}

async fn page(State(state): State<AppState>) -> Result<Response, AppError> {
    let doc = domain::ip_ranges::document(&state.db, &state.config, state.clock.now()).await?;
    Ok(render(
        StatusCode::OK,
        &Page {
            brand: Brand::from_state(&state),
            doc,
        },
    ))
}

async fn json(State(state): State<AppState>) -> Result<Response, AppError> {
    let doc = domain::ip_ranges::document(&state.db, &state.config, state.clock.now()).await?;
    Ok((
        [(http::header::CACHE_CONTROL, "public, max-age=300")],
        axum::Json(doc),
    )
        .into_response())
}
