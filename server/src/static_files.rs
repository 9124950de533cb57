//! Static assets, embedded in the binary so `reauth` runs from any directory.

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::AppState;

const APP_CSS: &str = include_str!("../../static/app.css");
const STAFF_CSS: &str = include_str!("../../static/staff.css");
const STAFF_JS: &str = include_str!("../../static/staff.js");

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/static/app.css", get(app_css))
        .route("/static/staff.css", get(staff_css))
        .route("/static/staff.js", get(staff_js))
}

async fn staff_css() -> impl IntoResponse {
    (
        [
            ("content-type", "text/css; charset=utf-8"),
            ("cache-control", "public, max-age=3600"),
        ],
        STAFF_CSS,
    )
}

async fn staff_js() -> impl IntoResponse {
    (
        [
            ("content-type", "text/javascript; charset=utf-8"),
            ("cache-control", "public, max-age=3600"),
        ],
        STAFF_JS,
    )
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
