//! Static assets, embedded in the binary so `reauth` runs from any directory.

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::AppState;

const APP_CSS: &str = include_str!("../../static/app.css");

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/static/app.css", get(app_css))
}

async fn app_css() -> impl IntoResponse {
    (
        [
            ("content-type", "text/css; charset=utf-8"),
            ("cache-control", "public, max-age=3600"),
        ],
        APP_CSS,
    )
}
