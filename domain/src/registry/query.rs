//! Reading the registry: lists with filters, one org in detail, and the export.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;

use super::search::search_matches;
use crate::entity::{contact, org, wave};
use crate::error::{Error, Result};
use crate::registry::state::OrgState;
use crate::types::{Environment, OrgId};

/// Filters for `orgs list`.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub state: Option<OrgState>,
    pub wave: Option<String>,
    pub csm: Option<String>,
    pub environment: Option<String>,
    /// Matches an org id, part of a name, or part of a contact's email (case-insensitive).
    pub search: Option<String>,
    /// Only orgs still to act whose wave's deadline is before this time.
    pub overdue_at: Option<DateTime<Utc>>,
    pub sort: Sort,
    pub descending: bool,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
}

/// How a list is ordered (ties broken by org id).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    #[default]
    Name,
    State,
    /// Last state change.
    Changed,
    Wave,
}

impl Sort {
    /// Parses `name`, `state`, `changed` or `wave`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "name" => Some(Self::Name),
            "state" => Some(Self::State),
            "changed" => Some(Self::Changed),
            "wave" => Some(Self::Wave),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::State => "state",
            Self::Changed => "changed",
            Self::Wave => "wave",
        }
    }
}

/// One org in a list.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OrgSummary {
    pub org_id: OrgId,
    pub name: String,
    pub environment: Environment,
    pub state: OrgState,
    pub wave: Option<String>,
    pub login_url: Option<String>,
    pub admin_email: Option<String>,
    pub csm_email: Option<String>,
    pub notices_paused: bool,
    pub state_changed_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Orgs matching a filter, in the filter's order (name, then id, by default).
pub async fn list<C: ConnectionTrait>(db: &C, f: &ListFilter) -> Result<Vec<OrgSummary>> {
    let waves = wave_names(db).await?;
    let mut q = filtered(db, f, &waves).await?;
    let order = if f.descending {
        sea_orm::Order::Desc
    } else {
        sea_orm::Order::Asc
    };
    q = match f.sort {
        Sort::Name => q.order_by(org::Column::NameLower, order.clone()),
        Sort::State => q.order_by(org::Column::State, order.clone()),
        Sort::Changed => q.order_by(org::Column::StateChangedAt, order.clone()),
        Sort::Wave => q.order_by(org::Column::WaveId, order.clone()),
    };
    q = q.order_by(org::Column::Id, order);
    if let Some(l) = f.limit {
        q = q.limit(l);
    }
    if let Some(o) = f.offset {
        q = q.offset(o);
    }
    let orgs = q.all(db).await?;
    let primaries = primary_emails(db, orgs.iter().map(|o| o.id.clone()).collect()).await?;
    Ok(orgs
        .into_iter()
        .map(|o| summary(o, &waves, &primaries))
        .collect())
}

/// How many orgs match a filter (ignoring its limit and offset).
pub async fn count<C: ConnectionTrait>(db: &C, f: &ListFilter) -> Result<u64> {
    use sea_orm::PaginatorTrait;
    let waves = wave_names(db).await?;
    Ok(filtered(db, f, &waves).await?.count(db).await?)
}

/// Ids of the orgs matching a filter that sort after `after`, in id order: walks a filter in
/// chunks (bulk jobs, exports) without offsets, so orgs that change meanwhile are not skipped.
pub async fn ids_after<C: ConnectionTrait>(
    db: &C,
    f: &ListFilter,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<String>> {
    let waves = wave_names(db).await?;
    let mut q = filtered(db, f, &waves).await?;
    if let Some(a) = after {
        q = q.filter(org::Column::Id.gt(a));
    }
    Ok(q.select_only()
        .column(org::Column::Id)
        .order_by_asc(org::Column::Id)
        .limit(limit)
        .into_tuple::<String>()
        .all(db)
        .await?)
}

/// Summaries of the given orgs (unknown ids are left out), in id order.
pub async fn summaries<C: ConnectionTrait>(db: &C, ids: &[String]) -> Result<Vec<OrgSummary>> {
    let waves = wave_names(db).await?;
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let orgs = org::Entity::find()
            .filter(org::Column::Id.is_in(chunk.to_vec()))
            .order_by_asc(org::Column::Id)
            .all(db)
            .await?;
        let primaries = primary_emails(db, orgs.iter().map(|o| o.id.clone()).collect()).await?;
        out.extend(orgs.into_iter().map(|o| summary(o, &waves, &primaries)));
    }
    Ok(out)
}

async fn filtered<C: ConnectionTrait>(
    db: &C,
    f: &ListFilter,
    waves: &HashMap<i64, String>,
) -> Result<sea_orm::Select<org::Entity>> {
    let mut q = org::Entity::find();
    if let Some(at) = f.overdue_at {
        let late: Vec<i64> = wave::Entity::find()
            .filter(wave::Column::Deadline.lt(at))
            .select_only()
            .column(wave::Column::Id)
            .into_tuple()
            .all(db)
            .await?;
        q = q
            .filter(org::Column::WaveId.is_in(late))
            .filter(org::Column::State.is_in([
                OrgState::Pending,
                OrgState::Notified,
                OrgState::Opened,
                OrgState::NeedsReauth,
                OrgState::NeedsAttention,
            ]));
    }
    if let Some(s) = f.state {
        q = q.filter(org::Column::State.eq(s));
    }
    if let Some(w) = &f.wave {
        match waves.iter().find(|(_, n)| *n == w) {
            Some((id, _)) => q = q.filter(org::Column::WaveId.eq(*id)),
            None => return Err(Error::Invalid(format!("no wave named `{w}`"))),
        }
    }
    if let Some(c) = &f.csm {
        q = q.filter(org::Column::CsmEmail.eq(c.trim().to_lowercase()));
    }
    if let Some(e) = &f.environment {
        q = q.filter(org::Column::Environment.eq(e.as_str()));
    }
    if let Some(s) = f.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let mut cond = sea_orm::Condition::any().add(search_matches(db.get_database_backend(), s));
        if let Ok(id) = OrgId::parse(s) {
            cond = cond.add(org::Column::Id.eq(id.as_str()));
        }
        q = q.filter(cond);
    }
    Ok(q)
}

pub(super) async fn wave_names<C: ConnectionTrait>(db: &C) -> Result<HashMap<i64, String>> {
    Ok(wave::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|w| (w.id, w.name))
        .collect())
}

async fn primary_emails<C: ConnectionTrait>(
    db: &C,
    ids: Vec<OrgId>,
) -> Result<HashMap<OrgId, String>> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let rows = contact::Entity::find()
            .filter(contact::Column::OrgId.is_in(chunk.to_vec()))
            .filter(contact::Column::Role.eq("primary"))
            .all(db)
            .await?;
        out.extend(rows.into_iter().map(|c| (c.org_id, c.email)));
    }
    Ok(out)
}

pub(super) fn summary(
    o: org::Model,
    waves: &HashMap<i64, String>,
    primaries: &HashMap<OrgId, String>,
) -> OrgSummary {
    OrgSummary {
        wave: o.wave_id.and_then(|w| waves.get(&w).cloned()),
        admin_email: primaries.get(&o.id).cloned(),
        org_id: o.id,
        name: o.name,
        environment: o.environment,
        state: o.state,
        login_url: o.login_url,
        csm_email: o.csm_email,
        notices_paused: o.notices_paused,
        state_changed_at: o.state_changed_at,
        created_at: o.created_at,
        updated_at: o.updated_at,
    }
}
