//! Orgs: the searchable list (with CSV export) and one org's page with its actions.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use domain::entity::connection;
use domain::entity::connection::ConnectionStatus;
use domain::reconsent::Flow;
use domain::registry::state::OrgState;
use domain::registry::{ListFilter, Sort};
use domain::staff::bulk::FilterSpec;
use domain::types::OrgId;
use http::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Deserialize;

use super::view::{Nav, Notice, days_until, enc, when};
use super::{CurrentStaff, FormData, charts};
use crate::AppState;
use crate::error::AppError;
use crate::pages::render;
use crate::security::redirect;

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

    fn sort(&self) -> Result<Sort, AppError> {
        match blank(&self.sort) {
            None => Ok(Sort::Name),
            Some(s) => Sort::parse(&s).ok_or_else(|| {
                AppError::bad_request(format!(
                    "unknown sort `{s}`; use name, state, changed or wave"
                ))
            }),
        }
    }

    fn descending(&self) -> bool {
        self.dir.as_deref() == Some("desc")
    }

    fn per(&self) -> u64 {
        self.per.unwrap_or(PER_PAGE).clamp(1, MAX_PER_PAGE)
    }

    /// The page asked for, at least 1 and small enough that its offset cannot overflow (a page
    /// past the end is simply empty).
    fn page(&self) -> u64 {
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

struct Row {
    org_id: String,
    name: String,
    environment: String,
    state: String,
    colour: &'static str,
    wave: String,
    admin_email: String,
    csm_email: String,
    changed: String,
    notices_paused: bool,
}

struct SortLink {
    label: &'static str,
    href: String,
    /// "", "▲" or "▼"
    mark: &'static str,
}

#[derive(Template)]
#[template(path = "staff/orgs.html")]
struct OrgsPage {
    nav: Nav,
    query: ListQuery,
    states: Vec<&'static str>,
    waves: Vec<String>,
    total: u64,
    rows: Vec<Row>,
    sorts: Vec<SortLink>,
    first: u64,
    last: u64,
    prev: Option<String>,
    next: Option<String>,
    csv: String,
    overdue: bool,
}

pub(crate) async fn list(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Query(query): Query<ListQuery>,
) -> Result<Response, AppError> {
    let now = state.clock.now();
    let spec = query.spec(now)?;
    let sort = query.sort()?;
    let per = query.per();
    let page = query.page();
    let mut filter: ListFilter = spec.to_filter()?;
    filter.sort = sort;
    filter.descending = query.descending();
    filter.limit = Some(per);
    let skip = (page - 1).saturating_mul(per);
    filter.offset = Some(skip);
    let orgs = domain::registry::list(&state.db, &filter).await?;
    // A first page that is not full is the whole result: no second pass to count it (a
    // search scans names and emails, so this halves its cost).
    let total = if page == 1 && (orgs.len() as u64) < per {
        orgs.len() as u64
    } else {
        domain::registry::count(&state.db, &filter).await?
    };
    let waves = domain::campaign::all_waves(&state.db)
        .await?
        .into_iter()
        .map(|w| w.name)
        .collect();
    let first = if orgs.is_empty() { 0 } else { skip + 1 };
    let last = skip + orgs.len() as u64;
    let sorts = [
        ("Name", Sort::Name),
        ("State", Sort::State),
        ("Wave", Sort::Wave),
        ("Last change", Sort::Changed),
    ]
    .into_iter()
    .map(|(label, s)| {
        let current = s == sort;
        let dir = if current && !query.descending() {
            Some("desc".to_owned())
        } else {
            None
        };
        SortLink {
            label,
            href: query.href(&[
                ("sort", Some(s.as_str().to_owned())),
                ("dir", dir),
                ("page", None),
            ]),
            mark: match (current, query.descending()) {
                (false, _) => "",
                (true, false) => "▲",
                (true, true) => "▼",
            },
        }
    })
    .collect();
    let page_html = OrgsPage {
        nav: Nav::new(&state, &staff, "orgs"),
        states: OrgState::ALL.map(|s| s.as_str()).to_vec(),
        waves,
        total,
        rows: orgs
            .into_iter()
            .map(|o| Row {
                colour: charts::state_colour(o.state.as_str()),
                state: o.state.as_str().to_owned(),
                org_id: o.org_id.to_string(),
                name: o.name,
                environment: o.environment.to_string(),
                wave: o.wave.unwrap_or_default(),
                admin_email: o.admin_email.unwrap_or_default(),
                csm_email: o.csm_email.unwrap_or_default(),
                changed: when(&o.state_changed_at),
                notices_paused: o.notices_paused,
            })
            .collect(),
        sorts,
        first,
        last,
        prev: (page > 1).then(|| query.href(&[("page", Some((page - 1).to_string()))])),
        next: (last < total).then(|| query.href(&[("page", Some((page + 1).to_string()))])),
        csv: query
            .href(&[("page", None), ("sort", None), ("dir", None), ("per", None)])
            .replacen("/orgs", "/orgs.csv", 1),
        overdue: query.overdue(),
        query,
    };
    Ok(render(StatusCode::OK, &page_html))
}

/// The filtered list as CSV (every matching org, in id order).
pub(crate) async fn csv(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Query(query): Query<ListQuery>,
) -> Result<Response, AppError> {
    let now = state.clock.now();
    let filter = query.spec(now)?.to_filter()?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = [
        "org_id",
        "name",
        "environment",
        "state",
        "wave",
        "admin_email",
        "csm_email",
        "notices_paused",
        "state_changed_at",
    ];
    w.write_record(header).map_err(csv_err)?;
    let mut after: Option<String> = None;
    loop {
        let ids = domain::registry::ids_after(&state.db, &filter, after.as_deref(), 2000).await?;
        let Some(last) = ids.last().cloned() else {
            break;
        };
        for o in domain::registry::summaries(&state.db, &ids).await? {
            w.write_record([
                o.org_id.as_str(),
                &o.name,
                o.environment.as_str(),
                o.state.as_str(),
                o.wave.as_deref().unwrap_or(""),
                o.admin_email.as_deref().unwrap_or(""),
                o.csm_email.as_deref().unwrap_or(""),
                if o.notices_paused { "true" } else { "false" },
                &o.state_changed_at.to_rfc3339(),
            ])
            .map_err(csv_err)?;
        }
        after = Some(last);
    }
    let body = w
        .into_inner()
        .map_err(|e| AppError::internal(format_args!("csv: {e}")))?;
    domain::events::record(
        &state.db,
        now,
        &staff.actor(),
        None,
        "orgs.exported",
        serde_json::json!({ "filter": query.spec(now)?, "bytes": body.len() }),
    )
    .await?;
    Ok((
        [
            ("content-type", "text/csv; charset=utf-8"),
            (
                "content-disposition",
                "attachment; filename=\"reauth-orgs.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}

pub(crate) fn csv_err(e: csv::Error) -> AppError {
    AppError::internal(format_args!("csv: {e}"))
}

struct ConnectionRow {
    id: i64,
    app: String,
    status: String,
    instance_url: String,
    username: String,
    scopes: String,
    issued: String,
    last_refresh: String,
    idle_days_left: Option<i64>,
    last_error: Option<String>,
    can_verify: bool,
    can_revoke: bool,
    /// The token API answers from this one.
    serving: bool,
    can_accept: bool,
    can_retire: bool,
}

struct LinkRow {
    id: i64,
    created: String,
    created_by: String,
    expires: String,
    opened: String,
    status: &'static str,
}

struct NoticeRow {
    kind: String,
    status: String,
    recipient: String,
    scheduled: String,
    sent: String,
    attempts: i32,
    last_error: String,
}

#[derive(Template)]
#[template(path = "staff/org.html")]
struct OrgPage {
    nav: Nav,
    org_id: String,
    name: String,
    environment: String,
    state: String,
    colour: &'static str,
    wave: String,
    csm: String,
    login_url: String,
    notices_paused: bool,
    attention: Option<String>,
    changed: String,
    contacts: Vec<domain::registry::ContactView>,
    connections: Vec<ConnectionRow>,
    links: Vec<LinkRow>,
    notices: Vec<NoticeRow>,
    events: Vec<domain::events::EventLine>,
    older: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct OrgQuery {
    /// Timeline paging: `at|id` of the last event shown.
    before: Option<String>,
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
    enc(&format!("{}|{}", e.at.to_rfc3339(), e.id))
}

const TIMELINE_PAGE: u64 = 100;

/// The highest page number the list accepts (10 million orgs at the smallest page size).
const MAX_PAGE: u64 = 1_000_000;

#[tracing::instrument(skip_all, fields(org_id = %org_id))]
pub(crate) async fn page(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(org_id): Path<String>,
    Query(q): Query<OrgQuery>,
) -> Result<Response, AppError> {
    let now = state.clock.now();
    let id = parse_org(&org_id)?;
    let detail = domain::registry::show(&state.db, &id).await?;
    let idle = chrono::Duration::from_std(state.config.heartbeat.idle_timeout)
        .unwrap_or(chrono::Duration::days(30));
    let conns = connection::Entity::find()
        .filter(connection::Column::OrgId.eq(id.as_str()))
        .order_by_desc(connection::Column::Id)
        .all(&state.db)
        .await
        .map_err(domain::Error::from)?;
    let serving = domain::vault::serving_connection(&conns).map(|c| c.id);
    let eca_active = conns
        .iter()
        .any(|c| c.app == connection::ConnectionApp::Eca && c.status == ConnectionStatus::Active);
    let events = domain::events::list(
        &state.db,
        &domain::events::EventFilter {
            org: Some(id.clone()),
            before: parse_before(q.before.as_deref())?,
            limit: TIMELINE_PAGE,
            ..Default::default()
        },
    )
    .await?;
    let older = (events.len() as u64 == TIMELINE_PAGE)
        .then(|| {
            events
                .last()
                .map(|e| format!("/orgs/{id}?before={}#timeline", cursor(e)))
        })
        .flatten();
    let links = domain::reconsent::links::list_for_org(&state.db, &id).await?;
    let notices = domain::campaign::notices::list(&state.db, Some(&id), 50).await?;
    let o = detail.org;
    let page = OrgPage {
        nav: Nav::new(&state, &staff, "orgs"),
        org_id: o.org_id.to_string(),
        name: o.name,
        environment: o.environment.to_string(),
        colour: charts::state_colour(o.state.as_str()),
        state: o.state.as_str().to_owned(),
        wave: o.wave.unwrap_or_default(),
        csm: o.csm_email.unwrap_or_default(),
        login_url: o.login_url.unwrap_or_default(),
        notices_paused: o.notices_paused,
        attention: detail
            .attention_reason
            .map(|r| match detail.attention_owner {
                Some(owner) => format!("{r} (owner: {owner})"),
                None => r,
            }),
        changed: when(&o.state_changed_at),
        contacts: detail.contacts,
        connections: conns
            .into_iter()
            .map(|c| {
                let live = c.status.is_live();
                ConnectionRow {
                    serving: serving == Some(c.id),
                    can_accept: c.status == ConnectionStatus::Standby,
                    can_retire: c.app == connection::ConnectionApp::Legacy
                        && c.status == ConnectionStatus::Active
                        && eca_active,
                    id: c.id,
                    can_verify: c.status == ConnectionStatus::Verifying,
                    can_revoke: !c.status.is_terminal(),
                    idle_days_left: live.then(|| days_until(&(c.last_exchange_at + idle), now)),
                    app: c.app.to_string(),
                    status: c.status.to_string(),
                    instance_url: c.instance_url,
                    username: c.sf_username.unwrap_or(c.sf_user_id),
                    scopes: c.scopes,
                    issued: when(&c.issued_at),
                    last_refresh: when(&c.last_exchange_at),
                    last_error: c
                        .last_error_class
                        .map(|cl| format!("{cl}: {}", c.last_error.unwrap_or_default())),
                }
            })
            .collect(),
        links: links
            .into_iter()
            .take(20)
            .map(|l| LinkRow {
                id: l.id,
                created: when(&l.created_at),
                created_by: l.created_by,
                expires: when(&l.expires_at),
                opened: match (l.first_opened_at, l.open_count) {
                    (Some(t), n) => format!("{n}× (first {})", when(&t)),
                    (None, _) => "never".into(),
                },
                status: if l.used_at.is_some() {
                    "used"
                } else if l.revoked_at.is_some() {
                    "revoked"
                } else if l.expires_at <= now {
                    "expired"
                } else {
                    "valid"
                },
            })
            .collect(),
        notices: notices
            .into_iter()
            .map(|n| NoticeRow {
                kind: match n.step {
                    Some(s) => format!("{} ({s})", n.kind),
                    None => n.kind.to_string(),
                },
                status: n.status.to_string(),
                recipient: n.recipient.unwrap_or_default(),
                scheduled: when(&n.scheduled_at),
                sent: n.sent_at.as_ref().map(when).unwrap_or_default(),
                attempts: n.attempts,
                last_error: n.last_error.unwrap_or_default(),
            })
            .collect(),
        events: events.into_iter().map(Into::into).collect(),
        older,
    };
    Ok(render(StatusCode::OK, &page))
}

fn back_to(org: &OrgId) -> (String, String) {
    (format!("/orgs/{org}"), "Back to the org".into())
}

/// A new link: shown once to copy, or sent to the primary contact.
#[tracing::instrument(skip_all, fields(org_id = %org_id))]
pub(crate) async fn new_link(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(org_id): Path<String>,
    form: FormData,
) -> Result<Response, AppError> {
    let now = state.clock.now();
    let id = parse_org(&org_id)?;
    let nav = Nav::new(&state, &staff, "orgs");
    match form.get("mode") {
        Some("copy") => {
            let (secret, link) = domain::reconsent::links::create(
                &state.db,
                domain::reconsent::links::NewLink {
                    org_id: &id,
                    contact: None,
                    ttl: state.config.links.ttl,
                    notice_id: None,
                },
                &staff.actor(),
                now,
            )
            .await?;
            let mut n = Notice::ok(nav, "New link created", back_to(&id));
            n.paragraphs.push(format!(
                "It works until {} and only for org {id}. Anyone with the link can start the re-consent, so send it only to the org's administrator.",
                when(&link.expires_at)
            ));
            n.once = Some(("The link".into(), secret.url(&state.config.base_url)));
            Ok(render(StatusCode::OK, &n))
        }
        Some("send") => {
            let occasion = format!("staff-{}", now.timestamp_millis());
            let queued =
                domain::staff::bulk::send_link(&state.db, &id, &occasion, &staff.actor(), now)
                    .await?;
            let mut n = Notice::ok(
                nav,
                if queued {
                    "The link is on its way"
                } else {
                    "No link was sent"
                },
                back_to(&id),
            );
            if queued {
                n.paragraphs.push(
                    "A notice with a new link is queued for the org's primary contact; the notices list on the org page shows when it is delivered.".into(),
                );
            } else {
                n.tone = "warn";
                n.paragraphs.push(
                    "This org has already consented, or its notices are paused. Resume notices first, or create a link to copy.".into(),
                );
            }
            Ok(render(StatusCode::OK, &n))
        }
        other => Err(AppError::bad_request(format!(
            "mode must be copy or send, not `{}`",
            other.unwrap_or("")
        ))),
    }
}

#[tracing::instrument(skip_all, fields(org_id = %org_id))]
pub(crate) async fn add_note(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(org_id): Path<String>,
    form: FormData,
) -> Result<Response, AppError> {
    let id = parse_org(&org_id)?;
    domain::registry::add_note(
        &state.db,
        &id,
        form.get("text").unwrap_or_default(),
        &staff.actor(),
        state.clock.now(),
    )
    .await?;
    Ok(redirect(&format!("/orgs/{id}#timeline")))
}

#[tracing::instrument(skip_all, fields(org_id = %org_id))]
pub(crate) async fn set_notices(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(org_id): Path<String>,
    form: FormData,
) -> Result<Response, AppError> {
    let id = parse_org(&org_id)?;
    let paused = form.bool("paused")?;
    domain::staff::bulk::set_notices_paused(
        &state.db,
        &id,
        paused,
        &staff.actor(),
        state.clock.now(),
    )
    .await?;
    Ok(redirect(&format!("/orgs/{id}")))
}

fn flow(state: &AppState) -> Result<Flow<'_>, AppError> {
    Ok(Flow {
        db: &state.db,
        vault: state.vault()?,
        config: &state.config,
    })
}

/// The connection must belong to the org in the path.
async fn owned(state: &AppState, org: &OrgId, id: i64) -> Result<(), AppError> {
    let c = connection::Entity::find_by_id(id)
        .one(&state.db)
        .await
        .map_err(domain::Error::from)?;
    match c {
        Some(c) if &c.org_id == org => Ok(()),
        _ => Err(AppError::bad_request(format!(
            "org {org} has no connection {id}"
        ))),
    }
}

#[tracing::instrument(skip_all, fields(org_id = %org_id, connection_id = cid))]
pub(crate) async fn retry_verification(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path((org_id, cid)): Path<(String, i64)>,
) -> Result<Response, AppError> {
    let id = parse_org(&org_id)?;
    owned(&state, &id, cid).await?;
    let outcome = domain::reconsent::retry_verification(
        &flow(&state)?,
        cid,
        &staff.actor(),
        state.clock.now(),
    )
    .await?;
    let nav = Nav::new(&state, &staff, "orgs");
    let n = match outcome {
        domain::reconsent::Retry::Verified => {
            let mut n = Notice::ok(nav, "The connection is verified", back_to(&id));
            n.paragraphs
                .push("Salesforce confirmed the org; the connection is now active.".into());
            n
        }
        domain::reconsent::Retry::Failed(reason) => {
            let mut n = Notice::ok(nav, "Verification failed again", back_to(&id));
            n.tone = "bad";
            n.paragraphs.push(format!("Salesforce said: {reason}"));
            n
        }
    };
    Ok(render(StatusCode::OK, &n))
}

#[tracing::instrument(skip_all, fields(org_id = %org_id, connection_id = cid))]
pub(crate) async fn revoke(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path((org_id, cid)): Path<(String, i64)>,
) -> Result<Response, AppError> {
    let id = parse_org(&org_id)?;
    owned(&state, &id, cid).await?;
    let outcome = domain::reconsent::revoke_connection(
        &flow(&state)?,
        cid,
        &staff.actor(),
        state.clock.now(),
    )
    .await?;
    let mut n = Notice::ok(
        Nav::new(&state, &staff, "orgs"),
        format!("Connection {cid} is revoked"),
        back_to(&id),
    );
    n.paragraphs.push(format!("Outcome: {outcome}."));
    Ok(render(StatusCode::OK, &n))
}
