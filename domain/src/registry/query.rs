//! Reading the registry: lists with filters, one org in detail, and the export.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;

use crate::entity::{contact, org, wave};
use crate::error::{Error, Result};
use crate::events::{self, EventView};
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

/// A contact as shown to operators.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ContactView {
    pub role: String,
    pub email: String,
    pub name: Option<String>,
    pub timezone: Option<String>,
    pub bounce_status: String,
}

/// One org with its contacts and recent history.
#[derive(Debug, Clone, Serialize)]
pub struct OrgDetail {
    #[serde(flatten)]
    pub org: OrgSummary,
    pub attention_reason: Option<String>,
    pub attention_owner: Option<String>,
    pub contacts: Vec<ContactView>,
    pub recent_events: Vec<EventView>,
}

/// One row of `orgs export`: exactly the import columns, so an export can be edited and
/// imported again.
#[derive(Debug, Clone, Serialize)]
pub struct ExportRow {
    pub org_id: OrgId,
    pub name: String,
    pub environment: Environment,
    pub login_url: String,
    pub wave: String,
    pub admin_email: String,
    pub admin_name: String,
    pub secondary_email: String,
    pub csm_email: String,
    pub timezone: String,
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

/// One org in detail.
pub async fn show<C: ConnectionTrait>(db: &C, id: &OrgId) -> Result<OrgDetail> {
    let o = org::Entity::find_by_id(id.clone())
        .one(db)
        .await?
        .ok_or_else(|| Error::UnknownOrg(id.clone()))?;
    let waves = wave_names(db).await?;
    let contacts = contact::Entity::find()
        .filter(contact::Column::OrgId.eq(id.as_str()))
        .order_by_asc(contact::Column::Id)
        .all(db)
        .await?;
    let primaries: HashMap<OrgId, String> = contacts
        .iter()
        .filter(|c| c.role == "primary")
        .map(|c| (c.org_id.clone(), c.email.clone()))
        .collect();
    let recent_events = events::list(
        db,
        &events::EventFilter {
            org: Some(id.clone()),
            limit: 20,
            ..Default::default()
        },
    )
    .await?;
    let (attention_reason, attention_owner) =
        (o.attention_reason.clone(), o.attention_owner.clone());
    Ok(OrgDetail {
        org: summary(o, &waves, &primaries),
        attention_reason,
        attention_owner,
        contacts: contacts
            .into_iter()
            .map(|c| ContactView {
                role: c.role,
                email: c.email,
                name: c.name,
                timezone: c.timezone,
                bounce_status: c.bounce_status,
            })
            .collect(),
        recent_events,
    })
}

/// Every org in import format, ordered by org id.
pub async fn export_rows<C: ConnectionTrait>(db: &C) -> Result<Vec<ExportRow>> {
    let waves = wave_names(db).await?;
    let orgs = org::Entity::find()
        .order_by_asc(org::Column::Id)
        .all(db)
        .await?;
    let mut contacts: HashMap<(OrgId, String), contact::Model> = HashMap::new();
    for c in contact::Entity::find().all(db).await? {
        contacts.insert((c.org_id.clone(), c.role.clone()), c);
    }
    Ok(orgs
        .into_iter()
        .map(|o| export_row(o, &waves, &contacts))
        .collect())
}

/// One org in import format.
pub(super) fn export_row(
    o: org::Model,
    waves: &HashMap<i64, String>,
    contacts: &HashMap<(OrgId, String), contact::Model>,
) -> ExportRow {
    let p = contacts.get(&(o.id.clone(), "primary".into()));
    let s = contacts.get(&(o.id.clone(), "secondary".into()));
    ExportRow {
        wave: o
            .wave_id
            .and_then(|w| waves.get(&w).cloned())
            .unwrap_or_default(),
        admin_email: p.map(|c| c.email.clone()).unwrap_or_default(),
        admin_name: p.and_then(|c| c.name.clone()).unwrap_or_default(),
        timezone: p.and_then(|c| c.timezone.clone()).unwrap_or_default(),
        secondary_email: s.map(|c| c.email.clone()).unwrap_or_default(),
        csm_email: o.csm_email.unwrap_or_default(),
        login_url: o.login_url.unwrap_or_default(),
        environment: o.environment,
        name: o.name,
        org_id: o.id,
    }
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

fn summary(
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

/// A LIKE pattern with `\\` as its escape character, said explicitly: PostgreSQL assumes it,
/// SQLite has no escape character unless told.
/// Orgs whose name, or one of whose contacts' emails, contains `text` (case-insensitive).
///
/// Each side is its own indexed subquery (`id IN (… UNION …)`) rather than an `OR` across a
/// join, which no planner turns into index lookups. On SQLite a text of three characters or more
/// is a phrase query on the trigram index `org_search` (the migration `…_search` keeps it); a
/// shorter one, which trigrams cannot match, scans. On PostgreSQL the `pg_trgm` indexes serve
/// `LIKE '%…%'` when the extension is installed; without it the same query scans.
fn search_matches(backend: sea_orm::DatabaseBackend, text: &str) -> sea_orm::sea_query::SimpleExpr {
    let lower = text.to_lowercase();
    if backend == sea_orm::DatabaseBackend::Sqlite && lower.chars().count() >= 3 {
        // An FTS5 string: double quotes doubled; the trigram tokenizer matches it as a substring.
        let phrase = format!("\"{}\"", lower.replace('"', "\"\""));
        return Expr::cust_with_values(
            "\"orgs\".\"id\" IN (SELECT org_id FROM org_search WHERE org_search MATCH ?)",
            [phrase],
        );
    }
    let pattern = format!("%{}%", escape_like(&lower));
    let mut by_name = Query::select()
        .column(org::Column::Id)
        .from(org::Entity)
        .and_where(org::Column::NameLower.like(like(&pattern)))
        .to_owned();
    let by_contact = Query::select()
        .column(contact::Column::OrgId)
        .from(contact::Entity)
        .and_where(contact::Column::Email.like(like(&pattern)))
        .to_owned();
    by_name.union(sea_orm::sea_query::UnionType::Distinct, by_contact);
    org::Column::Id.in_subquery(by_name)
}

fn like(pattern: &str) -> sea_orm::sea_query::LikeExpr {
    sea_orm::sea_query::LikeExpr::new(pattern).escape('\\')
}

/// Escapes `%` and `_` so user text matches literally in LIKE (see [`like`]).
fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Longest note a staff member may add to an org's timeline.
pub const MAX_NOTE_LEN: usize = 2000;

/// Adds a staff note to an org's timeline.
pub async fn add_note<C: ConnectionTrait>(
    db: &C,
    id: &OrgId,
    text: &str,
    actor: &crate::events::Actor,
    now: DateTime<Utc>,
) -> Result<()> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Error::Invalid("a note cannot be empty".into()));
    }
    if text.chars().count() > MAX_NOTE_LEN {
        return Err(Error::Invalid(format!(
            "a note holds at most {MAX_NOTE_LEN} characters"
        )));
    }
    org::Entity::find_by_id(id.clone())
        .one(db)
        .await?
        .ok_or_else(|| Error::UnknownOrg(id.clone()))?;
    events::record(
        db,
        now,
        actor,
        Some(id),
        "org.note",
        serde_json::json!({ "text": text }),
    )
    .await
}
