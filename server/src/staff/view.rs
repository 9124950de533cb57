//! What every dashboard page shares: the navigation bar, the problem page, the one-off notice
//! page, error mapping and formatting helpers.

use askama::Template;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use http::StatusCode;

use super::CurrentStaff;
use crate::AppState;
use crate::pages::render;

/// The bar at the top of every signed-in page.
pub(crate) struct Nav {
    pub partner: String,
    pub email: String,
    pub role: &'static str,
    pub csrf: String,
    pub operator: bool,
    pub admin: bool,
    /// Which section is current (overview | orgs | waves | events | jobs | admin).
    pub section: &'static str,
}

impl Nav {
    pub(crate) fn new(state: &AppState, staff: &CurrentStaff, section: &'static str) -> Self {
        Self {
            partner: state.config.partner.name.clone(),
            email: staff.user.email.clone(),
            role: staff.role.as_str(),
            csrf: staff.csrf.clone(),
            operator: staff.can(domain::staff::Role::Operator),
            admin: staff.can(domain::staff::Role::Admin),
            section,
        }
    }
}

#[derive(Template)]
#[template(path = "staff/problem.html")]
struct Problem<'a> {
    title: &'a str,
    detail: &'a str,
}

/// A page that says what went wrong, for requests refused before a handler ran.
pub(crate) fn problem(status: StatusCode, title: &str, detail: &str) -> Response {
    render(status, &Problem { title, detail })
}

/// A page reporting the outcome of an action, optionally with a value shown once (a new
/// link, a one-time password, an API key).
#[derive(Template)]
#[template(path = "staff/notice.html")]
pub(crate) struct Notice {
    pub nav: Nav,
    pub title: String,
    /// ok | warn | bad
    pub tone: &'static str,
    pub paragraphs: Vec<String>,
    pub once: Option<(String, String)>,
    pub back: (String, String),
}

impl Notice {
    pub(crate) fn ok(nav: Nav, title: impl Into<String>, back: (String, String)) -> Self {
        Self {
            nav,
            title: title.into(),
            tone: "ok",
            paragraphs: Vec::new(),
            once: None,
            back,
        }
    }
}

/// An error from a dashboard handler: bad input is explained, anything else is logged and
/// shown as the opaque error page.
pub(crate) struct WebError(pub domain::Error);

impl<E: Into<domain::Error>> From<E> for WebError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        use domain::Error as E;
        match &self.0 {
            E::Invalid(m) => problem(StatusCode::BAD_REQUEST, "That did not work", m),
            E::UnknownOrg(id) => problem(
                StatusCode::NOT_FOUND,
                "No such org",
                &format!("There is no org {id} in the registry."),
            ),
            E::Conflict(m) => problem(StatusCode::CONFLICT, "Something changed meanwhile", m),
            E::InvalidTransition { .. } => problem(
                StatusCode::CONFLICT,
                "Not possible now",
                &self.0.to_string(),
            ),
            _ => {
                tracing::error!(error = %self.0, "dashboard request failed");
                crate::pages::internal_error()
            }
        }
    }
}

/// A session-store failure, as a dashboard error.
pub(crate) fn session_err(e: tower_sessions::session::Error) -> WebError {
    WebError(domain::Error::Invalid(format!("session: {e}")))
}

/// `2026-11-24 09:30 UTC`
pub(crate) fn when(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// `2026-11-24`
pub(crate) fn day(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

/// Whole days from `now` until `t` (negative when past).
pub(crate) fn days_until(t: &DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    (*t - now).num_hours().div_euclid(24)
}

/// A query-string value, percent-encoded.
pub(crate) fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
