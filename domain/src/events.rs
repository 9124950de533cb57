//! The append-only audit trail: who did what to which org, and when. [`line`] says each event
//! in a sentence for the dashboard.

mod line;

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{ConnectionTrait, EntityTrait};
use serde::Serialize;

use crate::entity::event;
use crate::error::Result;
use crate::types::OrgId;

pub use line::{EventLine, actor_label, generic, sentence};

/// Who caused an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum Actor {
    /// reauth itself (jobs, the vault).
    System,
    /// An operator at the command line (the OS user, when known).
    Cli(String),
    /// A staff user of the dashboard (email).
    Staff(String),
    /// A customer admin (the contact or Salesforce username, when known).
    Customer(String),
    /// A partner service through the token API (key name).
    ApiKey(String),
}

impl Actor {
    /// The stored kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::System => "system",
            Self::Cli(_) => "cli",
            Self::Staff(_) => "staff",
            Self::Customer(_) => "customer",
            Self::ApiKey(_) => "api_key",
        }
    }

    /// The stored name, if any.
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::System => None,
            Self::Cli(n) | Self::Staff(n) | Self::Customer(n) | Self::ApiKey(n) => Some(n),
        }
    }

    /// The operator running this process, for CLI commands.
    pub fn cli_user(user: Option<String>) -> Self {
        Self::Cli(user.unwrap_or_else(|| "operator".into()))
    }
}

/// One event to write.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub org_id: Option<OrgId>,
    pub kind: String,
    pub details: serde_json::Value,
}

impl NewEvent {
    fn into_active(self) -> event::ActiveModel {
        event::ActiveModel {
            id: NotSet,
            at: Set(self.at),
            actor_kind: Set(self.actor.kind().to_owned()),
            actor: Set(self.actor.name().map(str::to_owned)),
            org_id: Set(self.org_id),
            kind: Set(self.kind),
            details: Set(self.details),
        }
    }
}

/// Writes one event (call it inside the transaction that made the change).
pub fn record<'a, C: ConnectionTrait>(
    db: &'a C,
    at: DateTime<Utc>,
    actor: &Actor,
    org_id: Option<&OrgId>,
    kind: &str,
    details: serde_json::Value,
) -> futures::future::BoxFuture<'a, Result<()>> {
    // Everything borrowed is copied before the future starts, so the future borrows only `db`;
    // boxing it also keeps callers' futures provably `Send` (rust-lang/rust#102211).
    let e = NewEvent {
        at,
        actor: actor.clone(),
        org_id: org_id.cloned(),
        kind: kind.to_owned(),
        details,
    };
    Box::pin(async move {
        event::Entity::insert(e.into_active())
            .exec_without_returning(db)
            .await?;
        Ok(())
    })
}

/// Writes one event of reauth itself ([`Actor::System`]: a job, the vault) about an org.
pub fn record_system<'a, C: ConnectionTrait>(
    db: &'a C,
    at: DateTime<Utc>,
    org_id: &OrgId,
    kind: &str,
    details: serde_json::Value,
) -> futures::future::BoxFuture<'a, Result<()>> {
    record(db, at, &Actor::System, Some(org_id), kind, details)
}

/// Writes many events in batches (imports write one per org).
pub async fn record_many<C: ConnectionTrait>(db: &C, events: Vec<NewEvent>) -> Result<()> {
    const BATCH: usize = 1000;
    let mut iter = events.into_iter().peekable();
    while iter.peek().is_some() {
        let chunk: Vec<_> = iter
            .by_ref()
            .take(BATCH)
            .map(NewEvent::into_active)
            .collect();
        event::Entity::insert_many(chunk)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// An event as shown to operators.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct EventView {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor_kind: String,
    pub actor: Option<String>,
    pub org_id: Option<OrgId>,
    pub kind: String,
    pub details: serde_json::Value,
}

/// Filters for listing events.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub org: Option<OrgId>,
    /// An exact kind (`org.state_changed`), or a prefix ending in `.` or `*` (`staff.`).
    pub kind: Option<String>,
    /// The actor's kind (`staff`, `system`, …).
    pub actor_kind: Option<String>,
    /// The actor's name (a staff email, an API key name…), exactly.
    pub actor: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Keyset paging: only events older than this (time, id) pair.
    pub before: Option<(DateTime<Utc>, i64)>,
    /// Most recent first, at most this many (0 = 50).
    pub limit: u64,
}

/// Events, newest first.
pub async fn list<C: ConnectionTrait>(db: &C, f: &EventFilter) -> Result<Vec<EventView>> {
    use sea_orm::{ColumnTrait, Condition, QueryFilter, QueryOrder, QuerySelect};
    let mut q = event::Entity::find();
    if let Some(o) = &f.org {
        q = q.filter(event::Column::OrgId.eq(o.as_str()));
    }
    if let Some(k) = f.kind.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
        q = match k.strip_suffix('*') {
            Some(prefix) => q.filter(event::Column::Kind.starts_with(prefix)),
            None if k.ends_with('.') => q.filter(event::Column::Kind.starts_with(k)),
            None => q.filter(event::Column::Kind.eq(k)),
        };
    }
    if let Some(a) = &f.actor_kind {
        q = q.filter(event::Column::ActorKind.eq(a.as_str()));
    }
    if let Some(a) = &f.actor {
        q = q.filter(event::Column::Actor.eq(a.as_str()));
    }
    if let Some(t) = f.since {
        q = q.filter(event::Column::At.gte(t));
    }
    if let Some(t) = f.until {
        q = q.filter(event::Column::At.lt(t));
    }
    if let Some((at, id)) = f.before {
        q = q.filter(
            Condition::any().add(event::Column::At.lt(at)).add(
                Condition::all()
                    .add(event::Column::At.eq(at))
                    .add(event::Column::Id.lt(id)),
            ),
        );
    }
    let rows = q
        .order_by_desc(event::Column::At)
        .order_by_desc(event::Column::Id)
        .limit(if f.limit == 0 { 50 } else { f.limit })
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|e| EventView {
            id: e.id,
            at: e.at,
            actor_kind: e.actor_kind,
            actor: e.actor,
            org_id: e.org_id,
            kind: e.kind,
            details: e.details,
        })
        .collect())
}
