//! Alerts: things a person at the partner must look at.
//!
//! An alert with a dedupe key (kind + org + subject, such as a source IP) is raised once while it
//! is open: seeing the cause again counts an occurrence and moves `last_seen_at` (a partial
//! unique index keeps one open alert per key). Acknowledging an alert silences its key only: a
//! new key (another thief's IP) is a new alert and notifies. Every new alert wants a notification
//! round; [`delivery`] fans rounds out to `[alerts]`'s mail addresses and webhook through an
//! outbox with retries.

pub mod delivery;

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::entity::alert;
use crate::error::Result;
use crate::types::OrgId;

/// An open, unacknowledged alert seen again this long after its last notification notifies again.
pub const REPEAT_AFTER: chrono::Duration = chrono::Duration::hours(24);

crate::entity::snake_case_enum! {
    /// How urgent an alert is.
    #[derive(PartialOrd, Ord)]
    pub enum Severity {
        Info,
        Warning,
        Critical,
    }
}

impl Severity {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// When an alert of `kind` closes by itself, for the dashboard, mail and webhook.
pub fn resolves_when(kind: &str) -> &'static str {
    match kind {
        "token.foreign_use" | "token.foreign_use_attempt" => {
            "Never by itself: a person resolves it once the client secret is rotated and the org has re-consented."
        }
        "egress.out_of_range" => {
            "By itself after a monitor pass in which all of reauth's exchanges came from partner.egress_ranges."
        }
        "egress.refused" => {
            "By itself after a monitor pass with no refusals of reauth's own exchanges."
        }
        "monitor.blind" => {
            "By itself once 95% of the connection's exchanges show up in LoginHistory again."
        }
        "usage.unusual" => "By itself after an hour within the usual volume.",
        "notice.stuck" => "By itself once the notice is sent.",
        _ => "When a person resolves it.",
    }
}

/// An alert to raise under a dedupe key.
#[derive(Debug, Clone)]
pub struct NewAlert<'a> {
    pub kind: &'a str,
    pub severity: Severity,
    /// `None`: a partner-wide cause.
    pub org_id: Option<&'a OrgId>,
    /// What tells two causes of one kind and org apart (a source IP); part of the key.
    pub subject: Option<&'a str>,
    pub message: String,
    pub details: serde_json::Value,
    /// Partner-wide causes: how many orgs they touched.
    pub affected_orgs: Option<i32>,
}

impl NewAlert<'_> {
    /// `kind|org|subject`.
    pub fn dedupe_key(&self) -> String {
        dedupe_key(self.kind, self.org_id, self.subject)
    }
}

/// `kind|org|subject` (`-` for no org).
pub fn dedupe_key(kind: &str, org_id: Option<&OrgId>, subject: Option<&str>) -> String {
    format!(
        "{kind}|{}|{}",
        org_id.map(OrgId::as_str).unwrap_or("-"),
        subject.unwrap_or_default()
    )
}

/// What raising did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raised {
    /// A new alert, which notifies.
    New(i64),
    /// The key's open alert counted another occurrence (and notifies again when it was last
    /// notified more than [`REPEAT_AFTER`] ago and nobody acknowledged it).
    Repeated(i64),
    /// The key's open alert is acknowledged: counted, not notified.
    Silenced(i64),
}

impl Raised {
    pub fn id(self) -> i64 {
        match self {
            Self::New(id) | Self::Repeated(id) | Self::Silenced(id) => id,
        }
    }
}

/// Raises an alert that is never merged with another (no dedupe key).
pub async fn raise<C: ConnectionTrait>(
    db: &C,
    kind: &str,
    severity: Severity,
    org_id: Option<&OrgId>,
    message: &str,
    details: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<()> {
    let a = NewAlert {
        kind,
        severity,
        org_id,
        subject: None,
        message: message.to_owned(),
        details,
        affected_orgs: None,
    };
    insert(db, &a, None, now).await?;
    Ok(())
}

async fn insert<C: ConnectionTrait>(
    db: &C,
    a: &NewAlert<'_>,
    key: Option<String>,
    now: DateTime<Utc>,
) -> std::result::Result<i64, sea_orm::DbErr> {
    tracing::warn!(
        kind = a.kind,
        severity = a.severity.as_str(),
        org_id = a.org_id.map(|o| o.as_str()),
        message = a.message,
        "alert"
    );
    let res = alert::Entity::insert(alert::ActiveModel {
        id: NotSet,
        kind: Set(a.kind.to_owned()),
        severity: Set(a.severity),
        org_id: Set(a.org_id.cloned()),
        message: Set(a.message.clone()),
        details: Set(a.details.clone()),
        created_at: Set(now),
        acknowledged_at: Set(None),
        acknowledged_by: Set(None),
        resolved_at: Set(None),
        dedupe_key: Set(key),
        occurrences: Set(1),
        last_seen_at: Set(Some(now)),
        affected_orgs: Set(a.affected_orgs),
        notify_due_at: Set(Some(now)),
        notified_at: Set(None),
        notify_round: Set(0),
    })
    .exec(db)
    .await?;
    Ok(res.last_insert_id)
}

/// Raises an alert under its dedupe key: a new alert when none is open for the key, otherwise
/// another occurrence of the open one. Call it outside a transaction: two processes raising the
/// same key at once meet at the unique index, and the loser counts an occurrence instead.
pub async fn raise_keyed<C: ConnectionTrait>(
    db: &C,
    a: NewAlert<'_>,
    now: DateTime<Utc>,
) -> Result<Raised> {
    let key = a.dedupe_key();
    for _ in 0..2 {
        if let Some(open) = open_by_key(db, &key).await? {
            return Ok(repeat(db, &open, &a, now).await?);
        }
        match insert(db, &a, Some(key.clone()), now).await {
            Ok(id) => return Ok(Raised::New(id)),
            // Another process opened the key between the look-up and the insert.
            Err(e) if open_by_key(db, &key).await?.is_some() => {
                tracing::debug!(error = %e, key, "alert key opened concurrently");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(crate::Error::Invalid(format!(
        "alert key {key} could not be raised"
    )))
}

async fn open_by_key<C: ConnectionTrait>(db: &C, key: &str) -> Result<Option<alert::Model>> {
    Ok(alert::Entity::find()
        .filter(alert::Column::DedupeKey.eq(key))
        .filter(alert::Column::ResolvedAt.is_null())
        .one(db)
        .await?)
}

async fn repeat<C: ConnectionTrait>(
    db: &C,
    open: &alert::Model,
    a: &NewAlert<'_>,
    now: DateTime<Utc>,
) -> std::result::Result<Raised, sea_orm::DbErr> {
    let silenced = open.acknowledged_at.is_some();
    let again = !silenced
        && open.notify_due_at.is_none()
        && open.notified_at.is_some_and(|t| t + REPEAT_AFTER <= now);
    let mut q = alert::Entity::update_many()
        .col_expr(
            alert::Column::Occurrences,
            Expr::col(alert::Column::Occurrences).add(1),
        )
        .col_expr(alert::Column::LastSeenAt, Expr::value(now))
        .col_expr(alert::Column::Message, Expr::value(a.message.clone()))
        .col_expr(alert::Column::Details, Expr::value(a.details.clone()))
        .col_expr(alert::Column::AffectedOrgs, Expr::value(a.affected_orgs));
    if again {
        q = q.col_expr(alert::Column::NotifyDueAt, Expr::value(now));
    }
    q.filter(alert::Column::Id.eq(open.id)).exec(db).await?;
    Ok(if silenced {
        Raised::Silenced(open.id)
    } else {
        Raised::Repeated(open.id)
    })
}

/// Closes the open alert under `key`, if any (the cause went away). Returns whether one closed.
pub async fn resolve_key<C: ConnectionTrait>(
    db: &C,
    key: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let res = alert::Entity::update_many()
        .col_expr(alert::Column::ResolvedAt, Expr::value(now))
        .col_expr(
            alert::Column::NotifyDueAt,
            Expr::value(None::<DateTime<Utc>>),
        )
        .filter(alert::Column::DedupeKey.eq(key))
        .filter(alert::Column::ResolvedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected > 0)
}

/// Closes every open alert of `kind` (a partner-wide cause that went away).
pub async fn resolve_kind<C: ConnectionTrait>(
    db: &C,
    kind: &str,
    now: DateTime<Utc>,
) -> Result<u64> {
    let res = alert::Entity::update_many()
        .col_expr(alert::Column::ResolvedAt, Expr::value(now))
        .col_expr(
            alert::Column::NotifyDueAt,
            Expr::value(None::<DateTime<Utc>>),
        )
        .filter(alert::Column::Kind.eq(kind))
        .filter(alert::Column::ResolvedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// A person has seen the alert and owns it; it stays open until resolved, and its key raises no
/// more notifications meanwhile.
pub async fn acknowledge<C: ConnectionTrait>(
    db: &C,
    id: i64,
    actor: &crate::events::Actor,
    now: DateTime<Utc>,
) -> Result<bool> {
    let res = alert::Entity::update_many()
        .col_expr(alert::Column::AcknowledgedAt, Expr::value(now))
        .col_expr(
            alert::Column::AcknowledgedBy,
            Expr::value(actor.name().unwrap_or(actor.kind())),
        )
        .filter(alert::Column::Id.eq(id))
        .filter(alert::Column::AcknowledgedAt.is_null())
        .exec(db)
        .await?;
    if res.rows_affected == 1 {
        crate::events::record(
            db,
            now,
            actor,
            None,
            "alert.acknowledged",
            serde_json::json!({ "alert_id": id }),
        )
        .await?;
    }
    Ok(res.rows_affected == 1)
}
