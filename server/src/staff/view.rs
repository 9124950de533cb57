//! What every dashboard page shares: the navigation bar, the one-off notice page and
//! formatting helpers. Errors are [`crate::error::AppError`]s, rendered in `templates/errors/`.

use askama::Template;
use chrono::{DateTime, Utc};

use super::CurrentStaff;
use crate::AppState;

/// The bar at the top of every signed-in page (and of error pages, signed in or not).
#[derive(Clone, Debug)]
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

    /// The bar for a page seen without a signed-in user (an unknown path, an expired form):
    /// the sections, no user and no sign-out.
    pub(crate) fn anonymous(state: &AppState) -> Self {
        Self {
            partner: state.config.partner.name.clone(),
            email: String::new(),
            role: "",
            csrf: String::new(),
            operator: false,
            admin: false,
            section: "",
        }
    }
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
