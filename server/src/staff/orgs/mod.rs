//! Orgs: the searchable list ([`list`]), its CSV exports ([`csv`]), one org's page ([`show`])
//! and the actions on it ([`actions`]). This module holds what they share: the list's query
//! string, the request about the org in a path ([`OrgRequest`]: the staff user and the parsed org
//! id), timeline cursors, and what a row and the page show of an org ([`OrgLabel`]).

mod actions;
mod csv;
mod list;
mod show;

use axum::extract::{FromRequestParts, Path};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use domain::registry::Sort;
use domain::registry::state::OrgState;
use domain::staff::bulk::FilterSpec;
use domain::types::OrgId;
use http::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;

pub(crate) use actions::{
    add_note, created_link, new_link, retry_verification, revoke, sent_link, set_notices,
};
pub(crate) use csv::{csv, report_csv};
pub(crate) use list::list;
pub(crate) use show::page;

use super::view::enc;
use super::{CurrentStaff, FormData};
use crate::AppState;
use crate::error::AppError;

/// Rows per page unless `per` says otherwise (at most [`MAX_PER_PAGE`]).
const PER_PAGE: u64 = 50;
const MAX_PER_PAGE: u64 = 500;

/// The org list's query string: search, filters, order and page.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ListQuery {
    pub q: Option<String>,
    pub state: Option<String>,
    pub wave: Option<String>,
    pub env: Option<String>,
    pub csm: Option<String>,
    pub overdue: Option<String>,
    pub sort: Option<String>,
    pub dir: Option<String>,
    pub page: Option<u64>,
    pub per: Option<u64>,
}

fn blank(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl ListQuery {
    /// From a submitted bulk form (the filter travels as hidden fields).
    pub(crate) fn from_form(f: &FormData) -> Self {
        let s = |k: &str| f.get(k).map(str::to_owned);
        Self {
            q: s("q"),
            state: s("state"),
            wave: s("wave"),
            env: s("env"),
            csm: s("csm"),
            overdue: s("overdue"),
            ..Default::default()
        }
    }

    pub(crate) fn overdue(&self) -> bool {
        matches!(self.overdue.as_deref(), Some("1" | "on" | "true" | "yes"))
    }

    /// The filter part, in storable form (bulk jobs keep it).
    pub(crate) fn spec(&self, now: DateTime<Utc>) -> Result<FilterSpec, AppError> {
        let state = blank(&self.state);
        if let Some(s) = &state
            && OrgState::parse(s).is_none()
        {
            return Err(AppError::bad_request(format!(
                "unknown state `{s}`; use one of {}",
                OrgState::ALL.map(|s| s.as_str()).join(", ")
            )));
        }
        let environment = blank(&self.env);
        if let Some(e) = &environment
            && !matches!(e.as_str(), "production" | "sandbox")
        {
            return Err(AppError::bad_request(format!(
                "unknown environment `{e}`; use production or sandbox"
            )));
        }
        Ok(FilterSpec {
            state,
            wave: blank(&self.wave),
            csm: blank(&self.csm),
            environment,
            search: blank(&self.q),
            overdue_at: self.overdue().then_some(now),
        })
    }

    pub(super) fn sort(&self) -> Result<Sort, AppError> {
        match blank(&self.sort) {
            None => Ok(Sort::Name),
            Some(s) => Sort::parse(&s).ok_or_else(|| {
                AppError::bad_request(format!(
                    "unknown sort `{s}`; use name, state, changed or wave"
                ))
            }),
        }
    }

    pub(super) fn descending(&self) -> bool {
        self.dir.as_deref() == Some("desc")
    }

    pub(super) fn per(&self) -> u64 {
        self.per.unwrap_or(PER_PAGE).clamp(1, MAX_PER_PAGE)
    }

    /// The page asked for, at least 1 and small enough that its offset cannot overflow (a page
    /// past the end is simply empty).
    pub(super) fn page(&self) -> u64 {
        self.page.unwrap_or(1).clamp(1, MAX_PAGE)
    }

    /// The query string for this list with some keys replaced (`None` drops a key).
    pub(crate) fn href(&self, overrides: &[(&str, Option<String>)]) -> String {
        let mut pairs: Vec<(&str, Option<String>)> = vec![
            ("q", blank(&self.q)),
            ("state", blank(&self.state)),
            ("wave", blank(&self.wave)),
            ("env", blank(&self.env)),
            ("csm", blank(&self.csm)),
            ("overdue", self.overdue().then(|| "1".to_owned())),
            ("sort", blank(&self.sort)),
            ("dir", blank(&self.dir)),
            ("per", self.per.map(|p| p.to_string())),
            ("page", self.page.filter(|p| *p > 1).map(|p| p.to_string())),
        ];
        for (k, v) in overrides {
            if let Some(p) = pairs.iter_mut().find(|(pk, _)| pk == k) {
                p.1 = v.clone();
            }
        }
        let qs: Vec<String> = pairs
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| format!("{k}={}", enc(&v))))
            .collect();
        if qs.is_empty() {
            "/orgs".into()
        } else {
            format!("/orgs?{}", qs.join("&"))
        }
    }
}

fn parse_org(id: &str) -> Result<OrgId, AppError> {
    OrgId::parse(id).map_err(|e| {
        AppError::new(
            StatusCode::BAD_REQUEST,
            "unknown_org",
            format!("“{id}” is not a Salesforce org id: {e}."),
        )
    })
}

/// A dashboard request about the org in its path: the app, the signed-in staff user, the org id
/// (parsed; a malformed one is refused as by [`parse_org`]) and the path's parameters, `P`.
pub(super) struct OrgRequest<P = String> {
    pub(super) state: AppState,
    pub(super) staff: CurrentStaff,
    pub(super) id: OrgId,
    pub(super) path: P,
}

/// The parameters of a path that names an org first: `/orgs/{id}/…` (a `String`), or
/// `/orgs/{id}/connections/{cid}/…` (`(String, i64)`).
pub(super) trait OrgPath: DeserializeOwned + Send {
    fn org_id(&self) -> &str;
}

impl OrgPath for String {
    fn org_id(&self) -> &str {
        self
    }
}

impl OrgPath for (String, i64) {
    fn org_id(&self) -> &str {
        &self.0
    }
}

impl<P: OrgPath> FromRequestParts<AppState> for OrgRequest<P> {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let staff = CurrentStaff::from_request_parts(parts, state).await?;
        let Path(path) = Path::<P>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let id = parse_org(path.org_id()).map_err(IntoResponse::into_response)?;
        Ok(Self {
            state: state.clone(),
            staff,
            id,
            path,
        })
    }
}

/// Parses a keyset cursor `RFC3339|id`.
pub(crate) fn parse_before(s: Option<&str>) -> Result<Option<(DateTime<Utc>, i64)>, AppError> {
    let Some(s) = s.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let bad = || AppError::bad_request(format!("bad page cursor `{s}`"));
    let (at, id) = s.rsplit_once('|').ok_or_else(bad)?;
    let at = DateTime::parse_from_rfc3339(at)
        .map_err(|_| bad())?
        .with_timezone(&Utc);
    Ok(Some((at, id.parse().map_err(|_| bad())?)))
}

pub(crate) fn cursor(e: &domain::events::EventView) -> String {
    cursor_at(e.at, e.id)
}

/// The keyset cursor for (time, id), percent-encoded.
pub(crate) fn cursor_at(at: DateTime<Utc>, id: i64) -> String {
    enc(&format!("{}|{}", at.to_rfc3339(), id))
}

/// The highest page number the list accepts (10 million orgs at the smallest page size).
const MAX_PAGE: u64 = 1_000_000;

/// What the org list's rows and the org page both show of an org, written out the same way.
struct OrgLabel {
    org_id: String,
    name: String,
    environment: String,
    state: String,
    /// The state's colour in the charts.
    colour: &'static str,
    wave: String,
    /// When it entered its state.
    changed: String,
    notices_paused: bool,
}

impl OrgLabel {
    fn of(o: &domain::registry::OrgSummary) -> Self {
        Self {
            org_id: o.org_id.to_string(),
            name: o.name.clone(),
            environment: o.environment.to_string(),
            state: o.state.as_str().to_owned(),
            colour: crate::staff::charts::state_colour(o.state.as_str()),
            wave: o.wave.clone().unwrap_or_default(),
            changed: crate::staff::view::when(&o.state_changed_at),
            notices_paused: o.notices_paused,
        }
    }
}
