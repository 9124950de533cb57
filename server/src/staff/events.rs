//! The audit log: every event, filtered, paged newest first, and exported as CSV.

use askama::Template;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use domain::events::EventFilter;
use domain::types::OrgId;
use http::StatusCode;
use serde::Deserialize;

use super::CurrentStaff;
use super::orgs::{cursor, parse_before};
use super::view::{Nav, enc};
use crate::AppState;
use crate::error::AppError;
use crate::pages::render;

const PAGE: u64 = 100;
/// Events per database round trip while exporting.
const EXPORT_CHUNK: u64 = 5000;

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct EventsQuery {
    org: Option<String>,
    kind: Option<String>,
    actor: Option<String>,
    /// system | cli | staff | customer | api_key
    actor_kind: Option<String>,
    /// YYYY-MM-DD, inclusive
    since: Option<String>,
    /// YYYY-MM-DD, inclusive
    until: Option<String>,
    before: Option<String>,
}

fn blank(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn date(
    v: &Option<String>,
    name: &str,
    end_of_day: bool,
) -> Result<Option<DateTime<Utc>>, AppError> {
    let Some(s) = blank(v) else { return Ok(None) };
    let d = NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(|_| {
        AppError::bad_request(format!("{name} must be a date like 2026-11-24, not `{s}`"))
    })?;
    let d = if end_of_day {
        d.succ_opt().unwrap_or(d)
    } else {
        d
    };
    Ok(d.and_hms_opt(0, 0, 0).map(|t| t.and_utc()))
}

impl EventsQuery {
    fn filter(&self, limit: u64) -> Result<EventFilter, AppError> {
        let org = match blank(&self.org) {
            Some(o) => Some(
                OrgId::parse(&o)
                    .map_err(|e| AppError::bad_request(format!("org id `{o}`: {e}")))?,
            ),
            None => None,
        };
        let actor_kind = blank(&self.actor_kind);
        if let Some(k) = &actor_kind
            && !matches!(
                k.as_str(),
                "system" | "cli" | "staff" | "customer" | "api_key"
            )
        {
            return Err(AppError::bad_request(format!(
                "actor kind must be system, cli, staff, customer or api_key, not `{k}`"
            )));
        }
        Ok(EventFilter {
            org,
            kind: blank(&self.kind),
            actor_kind,
            actor: blank(&self.actor),
            since: date(&self.since, "since", false)?,
            until: date(&self.until, "until", true)?,
            before: parse_before(self.before.as_deref())?,
            limit,
        })
    }

    fn qs(&self, with_before: Option<String>) -> String {
        let pairs = [
            ("org", blank(&self.org)),
            ("kind", blank(&self.kind)),
            ("actor", blank(&self.actor)),
            ("actor_kind", blank(&self.actor_kind)),
            ("since", blank(&self.since)),
            ("until", blank(&self.until)),
        ];
        let mut parts: Vec<String> = pairs
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| format!("{k}={}", enc(&v))))
            .collect();
        if let Some(b) = with_before {
            parts.push(format!("before={b}"));
        }
        parts.join("&")
    }
}

#[derive(Template)]
#[template(path = "staff/events.html")]
struct EventsPage {
    nav: Nav,
    q: EventsQuery,
    rows: Vec<domain::events::EventLine>,
    older: Option<String>,
    csv: String,
}

pub(crate) async fn page(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Query(q): Query<EventsQuery>,
) -> Result<Response, AppError> {
    let events = domain::events::list(&state.db, &q.filter(PAGE)?).await?;
    let older = (events.len() as u64 == PAGE)
        .then(|| {
            events
                .last()
                .map(|e| format!("/events?{}", q.qs(Some(cursor(e)))))
        })
        .flatten();
    let csv = format!("/events.csv?{}", q.qs(None));
    Ok(render(
        StatusCode::OK,
        &EventsPage {
            nav: Nav::new(&state, &staff, "events"),
            rows: events.into_iter().map(Into::into).collect(),
            older,
            csv,
            q,
        },
    ))
}

/// Every matching event as CSV, streamed in chunks so a million events never sit in memory.
pub(crate) async fn csv(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Query(q): Query<EventsQuery>,
) -> Result<Response, AppError> {
    let mut filter = q.filter(EXPORT_CHUNK)?;
    filter.before = None;
    let now = state.clock.now();
    domain::events::record(
        &state.db,
        now,
        &staff.actor(),
        None,
        "events.exported",
        serde_json::json!({ "filter": q.qs(None) }),
    )
    .await?;
    let db = state.db.clone();
    let stream = futures_util_stream(db, filter);
    Ok((
        [
            ("content-type", "text/csv; charset=utf-8"),
            (
                "content-disposition",
                "attachment; filename=\"reauth-events.csv\"",
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// Pages through the events with a keyset cursor, yielding one CSV chunk per page.
fn futures_util_stream(
    db: sea_orm::DatabaseConnection,
    filter: EventFilter,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures::stream::unfold(Some((filter, true)), move |st| {
        let db = db.clone();
        async move {
            let (mut filter, first) = st?;
            let events = match domain::events::list(&db, &filter).await {
                Ok(e) => e,
                Err(e) => {
                    tracing::error!(error = %e, "event export failed");
                    return Some((Err(std::io::Error::other(e.to_string())), None));
                }
            };
            let mut w = csv::Writer::from_writer(Vec::new());
            if first {
                let _ = w.write_record([
                    "id",
                    "at",
                    "actor_kind",
                    "actor",
                    "org_id",
                    "kind",
                    "details",
                ]);
            }
            for e in &events {
                let _ = w.write_record([
                    e.id.to_string(),
                    e.at.to_rfc3339(),
                    e.actor_kind.clone(),
                    e.actor.clone().unwrap_or_default(),
                    e.org_id
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    e.kind.clone(),
                    e.details.to_string(),
                ]);
            }
            let bytes = w.into_inner().unwrap_or_default();
            let next = if events.len() as u64 == filter.limit {
                filter.before = events.last().map(|e| (e.at, e.id));
                Some((filter, false))
            } else {
                None
            };
            if bytes.is_empty() && next.is_none() {
                return None;
            }
            Some((Ok(bytes), next))
        }
    })
}
