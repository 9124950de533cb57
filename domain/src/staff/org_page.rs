//! The dashboard's org page as one view model: the org, its connections with the actions each
//! allows, its links with their status, its notices and a page of its timeline. The rules
//! (which connection serves, what may be verified, revoked, accepted or retired, whether a
//! link still works) live here; the web layer only formats.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::entity::connection::{self, ConnectionApp, ConnectionStatus};
use crate::entity::{link, notice};
use crate::error::Result;
use crate::events::{EventFilter, EventLine};
use crate::registry::OrgDetail;
use crate::types::OrgId;

/// Links shown on the page, newest first.
const LINKS: usize = 20;
/// Notices shown on the page, newest first.
const NOTICES: u64 = 50;

/// A connection and what staff may do with it.
#[derive(Debug, Clone)]
pub struct ConnectionRow {
    pub model: connection::Model,
    /// The token API answers from this one.
    pub serving: bool,
    /// Whole days until Salesforce's idle timeout ends it (live connections only).
    pub idle_days_left: Option<i64>,
    pub can_verify: bool,
    pub can_revoke: bool,
    pub can_accept: bool,
    pub can_retire: bool,
}

/// Whether a link still works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkStatus {
    Used,
    Revoked,
    Expired,
    Valid,
}

impl LinkStatus {
    /// As the page shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Used => "used",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::Valid => "valid",
        }
    }

    /// A link's status at `now`.
    pub fn of(l: &link::Model, now: DateTime<Utc>) -> Self {
        if l.used_at.is_some() {
            Self::Used
        } else if l.revoked_at.is_some() {
            Self::Revoked
        } else if l.expires_at <= now {
            Self::Expired
        } else {
            Self::Valid
        }
    }
}

/// Everything the org page shows.
#[derive(Debug, Clone)]
pub struct OrgPage {
    pub detail: OrgDetail,
    pub connections: Vec<ConnectionRow>,
    pub links: Vec<(link::Model, LinkStatus)>,
    pub notices: Vec<notice::Model>,
    pub events: Vec<EventLine>,
    /// The cursor of the next (older) page of the timeline, when there is one.
    pub older: Option<(DateTime<Utc>, i64)>,
}

/// The org page for `id`, its timeline from `before` (`timeline` events at most); `idle` is
/// Salesforce's idle timeout for refresh tokens.
pub async fn org_page<C: ConnectionTrait>(
    db: &C,
    id: &OrgId,
    before: Option<(DateTime<Utc>, i64)>,
    timeline: u64,
    idle: Duration,
    now: DateTime<Utc>,
) -> Result<OrgPage> {
    let detail = crate::registry::show(db, id).await?;
    let conns = connection::Entity::find()
        .filter(connection::Column::OrgId.eq(id.as_str()))
        .order_by_desc(connection::Column::Id)
        .all(db)
        .await?;
    let serving = crate::vault::serving_connection(&conns).map(|c| c.id);
    let eca_active = conns
        .iter()
        .any(|c| c.app == ConnectionApp::Eca && c.status == ConnectionStatus::Active);
    let events = crate::events::list(
        db,
        &EventFilter {
            org: Some(id.clone()),
            before,
            limit: timeline,
            ..Default::default()
        },
    )
    .await?;
    let older = (events.len() as u64 == timeline)
        .then(|| events.last().map(|e| (e.at, e.id)))
        .flatten();
    let links = crate::reconsent::links::list_for_org(db, id)
        .await?
        .into_iter()
        .take(LINKS)
        .map(|l| {
            let status = LinkStatus::of(&l, now);
            (l, status)
        })
        .collect();
    Ok(OrgPage {
        detail,
        connections: conns
            .into_iter()
            .map(|c| ConnectionRow {
                serving: serving == Some(c.id),
                idle_days_left: c
                    .status
                    .is_live()
                    .then(|| (c.last_exchange_at + idle - now).num_hours().div_euclid(24)),
                can_verify: c.status == ConnectionStatus::Verifying,
                can_revoke: !c.status.is_terminal(),
                can_accept: c.status == ConnectionStatus::Standby,
                can_retire: c.app == ConnectionApp::Legacy
                    && c.status == ConnectionStatus::Active
                    && eca_active,
                model: c,
            })
            .collect(),
        links,
        notices: crate::campaign::notices::list(db, Some(id), NOTICES).await?,
        events: events.into_iter().map(Into::into).collect(),
        older,
    })
}

/// Whether connection `id` belongs to `org` (actions name both in their path).
pub async fn connection_belongs<C: ConnectionTrait>(db: &C, org: &OrgId, id: i64) -> Result<bool> {
    Ok(connection::Entity::find_by_id(id)
        .one(db)
        .await?
        .is_some_and(|c| &c.org_id == org))
}
