//! The server's one error type, [`AppError`], and [`render`], which logs and renders it.
//!
//! A handler returns `Result<_, AppError>`. The error does not render itself: its
//! `IntoResponse` leaves a response with the status and the error in the response's extensions,
//! and [`render`] — called once around the whole router, by `crate::frame` — logs it once and writes the body the
//! route's kind calls for: JSON for the token API, the customer's error page for the link pages,
//! the dashboard's error page for everything else (`templates/errors/`). A caller's mistake shows
//! its message; an internal fault shows a generic sentence and the request id, and its text goes
//! only to the log. Error responses made outside the handlers (axum's rejections, the 404
//! fallback) get the same pages.

use askama::Template;
use axum::response::{Html, IntoResponse, Response};
use axum::{Json, body::Body};
use domain::error::Fault;
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use crate::AppState;
use crate::pages::Brand;
use crate::staff::Nav;

/// Why a request failed, as the caller will be told (and, for a fault of ours, as the log
/// will be told).
#[derive(Clone, Debug)]
pub(crate) struct AppError(Box<Report>);

#[derive(Clone, Debug)]
struct Report {
    status: StatusCode,
    /// What kind of failure, for JSON's `error` and for the templates to choose their wording.
    code: &'static str,
    /// The specific message shown to the caller; `None` leaves the wording to the template.
    message: Option<String>,
    /// For the token API: a reason the caller can act on.
    reason: Option<String>,
    retry_after: Option<&'static str>,
    /// What went wrong inside: logged once, never shown.
    internal: Option<String>,
}

impl AppError {
    /// A failure the caller is told about: `code` names it, `message` explains it to them.
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self::coded(status, code).message(message)
    }

    /// A failure whose wording is all in the templates (chosen by `code`).
    pub(crate) fn coded(status: StatusCode, code: &'static str) -> Self {
        Self(Box::new(Report {
            status,
            code,
            message: None,
            reason: None,
            retry_after: None,
            internal: None,
        }))
    }

    /// The caller's input is wrong; `message` says how.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// What the caller asked for does not exist.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// A fault of ours: `detail` is logged, the caller sees a generic page and the request id.
    pub(crate) fn internal(detail: impl std::fmt::Display) -> Self {
        Self::coded(StatusCode::INTERNAL_SERVER_ERROR, "internal").logged(detail)
    }

    /// The message shown to the caller.
    pub(crate) fn message(mut self, message: impl Into<String>) -> Self {
        self.0.message = Some(message.into());
        self
    }

    /// A reason the API's caller can act on (`needs_reauth`'s why).
    pub(crate) fn reason(mut self, reason: impl Into<String>) -> Self {
        self.0.reason = Some(reason.into());
        self
    }

    /// Asks the caller to retry after `secs` seconds.
    pub(crate) fn retry_after(mut self, secs: &'static str) -> Self {
        self.0.retry_after = Some(secs);
        self
    }

    /// Something for the log (an operator must act), whatever the caller is shown.
    pub(crate) fn logged(mut self, detail: impl std::fmt::Display) -> Self {
        self.0.internal = Some(detail.to_string());
        self
    }

    /// The status the response carries.
    #[cfg(test)]
    fn status(&self) -> StatusCode {
        self.0.status
    }

    /// The one log line of a failed request, in the request's span (which names the route and
    /// the request id).
    fn log(&self) {
        let r = &self.0;
        match &r.internal {
            Some(detail) => {
                tracing::error!(status = r.status.as_u16(), code = r.code, error = %detail, "request failed");
            }
            None => tracing::debug!(status = r.status.as_u16(), code = r.code, "request refused"),
        }
    }
}

impl From<domain::Error> for AppError {
    fn from(e: domain::Error) -> Self {
        use domain::Error as E;
        if e.fault() == Fault::Internal {
            return Self::internal(e);
        }
        match e {
            E::UnknownOrg(id) => Self::new(
                StatusCode::NOT_FOUND,
                "unknown_org",
                format!("There is no org {id} in the registry."),
            ),
            E::NotFound(m) => Self::not_found(m),
            E::Conflict(m) => Self::new(StatusCode::CONFLICT, "conflict", m),
            E::InvalidTransition { .. } => {
                Self::new(StatusCode::CONFLICT, "not_possible", e.to_string())
            }
            other => Self::bad_request(other.to_string()),
        }
    }
}

impl From<sea_orm::DbErr> for AppError {
    fn from(e: sea_orm::DbErr) -> Self {
        domain::Error::from(e).into()
    }
}

impl From<tower_sessions::session::Error> for AppError {
    fn from(e: tower_sessions::session::Error) -> Self {
        Self::internal(format_args!("session: {e}"))
    }
}

impl From<askama::Error> for AppError {
    fn from(e: askama::Error) -> Self {
        Self::internal(format_args!("template: {e}"))
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut r = self.0.status.into_response();
        r.extensions_mut().insert(self);
        r
    }
}

/// The 404 for every path no route matches.
pub(crate) async fn not_found() -> AppError {
    AppError::coded(StatusCode::NOT_FOUND, "no_route")
}

/// Which error design a path gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The token API: JSON.
    Api,
    /// The customer admin's pages: the partner's branding, no dashboard.
    Customer,
    /// The dashboard.
    Staff,
    /// Probes, metrics and static files answer for themselves.
    Other,
}

impl Kind {
    pub(crate) fn of(path: &str) -> Self {
        if path.starts_with("/api/") {
            Self::Api
        } else if path.starts_with("/r/") || path.starts_with("/oauth/") {
            Self::Customer
        } else if ["/healthz", "/readyz", "/metrics"].contains(&path)
            || path.starts_with("/static/")
        {
            Self::Other
        } else {
            Self::Staff
        }
    }
}

/// What an error page shows of the error, whichever design it has.
#[derive(Clone, Copy)]
struct Shown<'a> {
    status: u16,
    /// Chooses the template's wording.
    code: &'a str,
    /// A caller's mistake, in its own words.
    message: Option<&'a str>,
    request_id: &'a str,
}

#[derive(Template)]
#[template(path = "errors/customer.html")]
struct CustomerPage<'a> {
    brand: Brand,
    e: Shown<'a>,
}

#[derive(Template)]
#[template(path = "errors/staff.html")]
struct StaffPage<'a> {
    nav: Nav,
    e: Shown<'a>,
}

/// Logs a failed request once and renders its error for the route's kind (`kind`, from the
/// request's path); any other response passes unchanged. Called by [`crate::frame`] around the
/// whole router, inside the request's span.
pub(crate) fn render(
    state: &AppState,
    kind: Kind,
    request_id: &str,
    mut res: Response,
) -> Response {
    let error = match res.extensions_mut().remove::<AppError>() {
        Some(e) => e,
        None if kind != Kind::Other && is_bare_error(&res) => bare(res.status()),
        None => return res,
    };
    error.log();
    let nav = res.extensions_mut().remove::<Nav>();
    let (mut parts, _) = res.into_parts();
    let r = &error.0;
    parts.status = r.status;
    let shown = Shown {
        status: r.status.as_u16(),
        code: r.code,
        message: r.message.as_deref(),
        request_id,
    };
    let body = match kind {
        Kind::Api | Kind::Other => {
            let mut body = json!({
                "error": r.code,
                "message": shown.message.unwrap_or(generic_api_message(r.status)),
                "request_id": request_id,
            });
            if let Some(reason) = &r.reason {
                body["reason"] = json!(reason);
            }
            parts
                .headers
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            if r.status == StatusCode::UNAUTHORIZED {
                parts
                    .headers
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            let (json_parts, body) = Json(body).into_response().into_parts();
            parts.headers.extend(json_parts.headers);
            body
        }
        Kind::Customer => {
            let brand = Brand::from_state(state);
            html(
                &mut parts,
                CustomerPage { brand, e: shown }.render(),
                request_id,
            )
        }
        Kind::Staff => {
            let nav = nav.unwrap_or_else(|| Nav::anonymous(state));
            html(&mut parts, StaffPage { nav, e: shown }.render(), request_id)
        }
    };
    if let Some(secs) = r.retry_after {
        parts
            .headers
            .insert(header::RETRY_AFTER, HeaderValue::from_static(secs));
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, body)
}

/// The body of an error page, or a line of plain text should the template itself fail.
fn html(
    parts: &mut http::response::Parts,
    rendered: askama::Result<String>,
    request_id: &str,
) -> Body {
    let (content_type, body) = match rendered {
        Ok(page) => ("text/html; charset=utf-8", page),
        Err(e) => {
            tracing::error!(error = %e, "the error page failed to render");
            (
                "text/plain; charset=utf-8",
                format!("Something went wrong on our side. Request id: {request_id}"),
            )
        }
    };
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Html(body).into_response().into_body()
}

/// The message of an API error that has none of its own.
fn generic_api_message(status: StatusCode) -> &'static str {
    match status {
        s if s.is_server_error() => "something went wrong on our side",
        StatusCode::NOT_FOUND => "no such endpoint (the API is described at /api/openapi.json)",
        StatusCode::METHOD_NOT_ALLOWED => "this endpoint does not take that method",
        _ => "the request was refused",
    }
}

/// An error status whose body nobody wrote for a person: axum's rejections (a malformed form
/// or path) and bare status codes.
fn is_bare_error(res: &Response) -> bool {
    let status = res.status();
    (status.is_client_error() || status.is_server_error())
        && res
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|t| t.starts_with("text/plain"))
}

/// The error for a bare error response, by its status alone.
fn bare(status: StatusCode) -> AppError {
    let code = match status {
        StatusCode::NOT_FOUND => "no_route",
        StatusCode::FORBIDDEN => "forbidden",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    };
    let e = AppError::coded(status, code);
    if status.is_server_error() {
        e.logged(format_args!("{status} without an error of ours"))
    } else {
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_domain_error_is_a_500_and_a_caller_mistake_a_4xx() {
        let internal: AppError = domain::Error::Internal("disk on fire".into()).into();
        assert_eq!(internal.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(internal.0.message, None);
        let mistake: AppError = domain::Error::Invalid("a note cannot be empty".into()).into();
        assert_eq!(mistake.status(), StatusCode::BAD_REQUEST);
        assert_eq!(mistake.0.message.as_deref(), Some("a note cannot be empty"));
        let missing: AppError = domain::Error::NotFound("no job 9".into()).into();
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn routes_get_the_error_design_of_their_kind() {
        assert_eq!(Kind::of("/api/v1/orgs/x/access-token"), Kind::Api);
        assert_eq!(Kind::of("/r/abc"), Kind::Customer);
        assert_eq!(Kind::of("/oauth/callback"), Kind::Customer);
        assert_eq!(Kind::of("/orgs/x"), Kind::Staff);
        assert_eq!(Kind::of("/nowhere"), Kind::Staff);
        assert_eq!(Kind::of("/readyz"), Kind::Other);
    }
}
