//! One org's page: its facts, connections (with the actions each allows), links, notices and
//! timeline. The rules come from [`domain::staff::org_page`]; this module formats.

use askama::Template;
use axum::extract::Query;
use axum::response::Response;
use domain::staff::org_page::{ConnectionRow as Connection, LinkStatus};
use http::StatusCode;
use serde::Deserialize;

use super::{OrgLabel, OrgRequest, cursor_at, parse_before};
use crate::error::AppError;
use crate::pages::render;
use crate::staff::view::{Nav, when};

/// Timeline events per page.
const TIMELINE_PAGE: u64 = 100;

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
    org: OrgLabel,
    csm: String,
    login_url: String,
    attention: Option<String>,
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

#[tracing::instrument(skip_all, fields(org_id = %r.id))]
pub(crate) async fn page(r: OrgRequest, Query(q): Query<OrgQuery>) -> Result<Response, AppError> {
    let OrgRequest {
        state, staff, id, ..
    } = r;
    let idle = chrono::Duration::from_std(state.config.heartbeat.idle_timeout)
        .unwrap_or(chrono::Duration::days(30));
    let before = parse_before(q.before.as_deref())?;
    let view = domain::staff::org_page::org_page(
        &state.db,
        &id,
        before,
        TIMELINE_PAGE,
        idle,
        state.clock.now(),
    )
    .await?;
    let nav = Nav::new(&state, &staff, "orgs");
    Ok(render(StatusCode::OK, &OrgPage::from_view(nav, view)))
}

impl OrgPage {
    fn from_view(nav: Nav, v: domain::staff::org_page::OrgPage) -> Self {
        let detail = v.detail;
        let o = detail.org;
        Self {
            nav,
            older: v.older.map(|(at, id)| {
                format!("/orgs/{}?before={}#timeline", o.org_id, cursor_at(at, id))
            }),
            org: OrgLabel::of(&o),
            csm: o.csm_email.unwrap_or_default(),
            login_url: o.login_url.unwrap_or_default(),
            attention: detail
                .attention_reason
                .map(|r| match detail.attention_owner {
                    Some(owner) => format!("{r} (owner: {owner})"),
                    None => r,
                }),
            contacts: detail.contacts,
            connections: v.connections.into_iter().map(connection_row).collect(),
            links: v
                .links
                .into_iter()
                .map(|(l, status)| link_row(l, status))
                .collect(),
            notices: v.notices.into_iter().map(notice_row).collect(),
            events: v.events,
        }
    }
}

fn connection_row(r: Connection) -> ConnectionRow {
    let c = r.model;
    ConnectionRow {
        serving: r.serving,
        can_accept: r.can_accept,
        can_retire: r.can_retire,
        can_verify: r.can_verify,
        can_revoke: r.can_revoke,
        idle_days_left: r.idle_days_left,
        id: c.id,
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
}

fn link_row(l: domain::entity::link::Model, status: LinkStatus) -> LinkRow {
    LinkRow {
        id: l.id,
        created: when(&l.created_at),
        created_by: l.created_by,
        expires: when(&l.expires_at),
        opened: match (l.first_opened_at, l.open_count) {
            (Some(t), n) => format!("{n}× (first {})", when(&t)),
            (None, _) => "never".into(),
        },
        status: status.as_str(),
    }
}

fn notice_row(n: domain::entity::notice::Model) -> NoticeRow {
    NoticeRow {
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
    }
}
