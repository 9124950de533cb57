//! The Compliance page: the compliance report (`domain::compliance::report`) for a period, and
//! the same report to download as Markdown, HTML or JSON for a Security Review submission.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use domain::compliance::report::render::{self, CheckId, View};
use domain::compliance::report::{self, Period, Verdict};
use http::{StatusCode, header};
use serde::Deserialize;

use super::CurrentStaff;
use super::view::Nav;
use crate::AppState;
use crate::error::AppError;
use crate::pages::render as render_page;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ReportQuery {
    from: Option<String>,
    to: Option<String>,
    /// `md`, `html` or `json` to download the report instead of the page.
    format: Option<String>,
}

#[derive(Template)]
#[template(path = "staff/compliance.html")]
struct CompliancePage<'a> {
    nav: Nav,
    v: View<'a>,
    from: String,
    to: String,
}

fn download(body: String, mime: &'static str, ext: &str) -> Response {
    let name = format!("attachment; filename=\"reauth-compliance.{ext}\"");
    (
        [
            (header::CONTENT_TYPE, mime.to_owned()),
            (header::CONTENT_DISPOSITION, name),
        ],
        body,
    )
        .into_response()
}

pub(crate) async fn page(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Query(q): Query<ReportQuery>,
) -> Result<Response, AppError> {
    let now = state.clock.now();
    let period = Period::parse(q.from.as_deref(), q.to.as_deref(), now)?;
    let r = report::build(&state.db, &state.config, period, now).await?;
    match q.format.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
        None => {}
        Some("md") => {
            return Ok(download(
                render::markdown(&r)?,
                "text/markdown; charset=utf-8",
                "md",
            ));
        }
        Some("html") => {
            return Ok(download(
                render::html(&r)?,
                "text/html; charset=utf-8",
                "html",
            ));
        }
        Some("json") => return Ok(download(render::json(&r)?, "application/json", "json")),
        Some(f) => {
            return Err(AppError::bad_request(format!(
                "format must be md, html or json, not `{f}`"
            )));
        }
    }
    let p = CompliancePage {
        nav: Nav::new(&state, &staff, "compliance"),
        from: q.from.unwrap_or_default(),
        to: q.to.unwrap_or_default(),
        v: render::view(&r),
    };
    Ok(render_page(StatusCode::OK, &p))
}
