//! The sender: claims due notices with a lease, has each delivered (`deliver`), and records how
//! it went. Permanent refusals fall back to the next contact; transient ones are retried with
//! backoff.
//!
//! Remaining window: if this process dies after the mail server accepted a message and before the
//! status write, the lease expires and the notice is sent again with the same Message-ID and link.

use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};

use crate::entity::notice::NoticeStatus;
use crate::entity::{notice, wave};
use crate::error::Result;
use crate::events::{self, Actor};

/// Attempts before a transiently failing notice is given up and alerted.
const MAX_ATTEMPTS: i32 = 8;
/// How many notices are sent at once: one SMTP connection carries only about 20 messages a
/// second (lettre leaves Nagle on), and the pool holds several.
const SEND_CONCURRENCY: usize = 8;

/// Services a sending pass needs.
pub struct Sender<'a> {
    pub mailer: &'a crate::mail::Mailer,
    pub sealer: &'a crate::security::crypto::Sealer,
    pub config: &'a crate::config::Config,
    /// Identifies this process in leases.
    pub owner: &'a str,
}

/// What one sending pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SendReport {
    pub sent: u32,
    /// Notices no longer needed at send time (the org consented, or its notices are paused).
    pub cancelled: u32,
    pub retried: u32,
    pub failed: u32,
    /// Whether nothing was sent because the breaker is tripped (every notice waits).
    pub held: bool,
}

/// Sends due notices, of every kind; none while the breaker is tripped.
pub async fn send_due<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    s: &Sender<'_>,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<SendReport> {
    let started = std::time::Instant::now();
    if crate::security::incident::breaker::check(db, &s.config.incident, now).await? {
        return Ok(SendReport {
            held: true,
            ..SendReport::default()
        });
    }
    let due = notice::Entity::find()
        .filter(
            Condition::any()
                .add(
                    notice::Column::Status
                        .eq(NoticeStatus::Pending)
                        .and(notice::Column::ScheduledAt.lte(now)),
                )
                .add(
                    notice::Column::Status
                        .eq(NoticeStatus::Sending)
                        .and(notice::Column::LeaseExpiresAt.lt(now)),
                ),
        )
        .order_by_asc(notice::Column::ScheduledAt)
        .limit(limit)
        .all(db)
        .await?;
    let paused: std::collections::HashSet<i64> = wave::Entity::find()
        .filter(wave::Column::Paused.eq(true))
        .all(db)
        .await?
        .into_iter()
        .map(|w| w.id)
        .collect();
    let outcomes: Vec<Result<Outcome>> = futures::stream::iter(
        due.into_iter()
            .filter(|n| !n.wave_id.is_some_and(|w| paused.contains(&w))),
    )
    .map(|n| process(db, s, n, now, started))
    .buffer_unordered(SEND_CONCURRENCY)
    .collect()
    .await;
    let mut report = SendReport::default();
    for o in outcomes {
        match o? {
            Outcome::Skipped => {}
            Outcome::Sent => report.sent += 1,
            Outcome::Cancelled => report.cancelled += 1,
            Outcome::Retried => report.retried += 1,
            Outcome::Failed => report.failed += 1,
        }
    }
    Ok(report)
}

enum Outcome {
    Skipped,
    Sent,
    Cancelled,
    Retried,
    Failed,
}

/// Why a delivery did not happen, and so what becomes of the notice.
pub(super) enum Failure {
    Retry(String),
    GiveUp(String),
    NotNeeded(String),
}

impl From<sea_orm::DbErr> for Failure {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Retry(e.to_string())
    }
}

impl From<crate::Error> for Failure {
    fn from(e: crate::Error) -> Self {
        Self::Retry(e.to_string())
    }
}

/// Claims and sends one notice, and records how it went.
#[tracing::instrument(skip_all, fields(notice_id = n.id, org_id = %n.org_id))]
async fn process<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    s: &Sender<'_>,
    n: notice::Model,
    now: DateTime<Utc>,
    started: std::time::Instant,
) -> Result<Outcome> {
    // A pass of thousands of notices runs for minutes: each lease counts from its own claim;
    // the rest of the pass keeps the pass's time.
    let claimed_at = now + chrono::Duration::from_std(started.elapsed()).unwrap_or_default();
    if !claim(db, &n, s.owner, claimed_at, s.config.mail.lease()).await? {
        return Ok(Outcome::Skipped);
    }
    Ok(match super::deliver::send_one(db, s, &n, now).await {
        Ok(()) => Outcome::Sent,
        Err(Failure::NotNeeded(why)) => {
            release(db, n.id, s.owner, NoticeStatus::Cancelled, None, &why, now).await?;
            Outcome::Cancelled
        }
        Err(Failure::Retry(e)) if n.attempts + 1 < MAX_ATTEMPTS => {
            let backoff = chrono::Duration::seconds(30 * 2i64.pow(n.attempts.clamp(0, 10) as u32));
            let at = Some(now + backoff);
            release(db, n.id, s.owner, NoticeStatus::Pending, at, &e, now).await?;
            Outcome::Retried
        }
        Err(Failure::Retry(e) | Failure::GiveUp(e)) => {
            release(db, n.id, s.owner, NoticeStatus::Failed, None, &e, now).await?;
            events::record(
                db,
                now,
                &Actor::System,
                Some(&n.org_id),
                "notice.failed",
                serde_json::json!({ "notice_id": n.id, "kind": n.kind, "error": e }),
            )
            .await?;
            Outcome::Failed
        }
    })
}

async fn claim<C: ConnectionTrait>(
    db: &C,
    n: &notice::Model,
    owner: &str,
    now: DateTime<Utc>,
    lease: chrono::Duration,
) -> Result<bool> {
    let res = notice::Entity::update_many()
        .col_expr(notice::Column::Status, Expr::value(NoticeStatus::Sending))
        .col_expr(notice::Column::LeaseOwner, Expr::value(owner))
        .col_expr(notice::Column::LeaseExpiresAt, Expr::value(now + lease))
        .col_expr(
            notice::Column::Attempts,
            Expr::col(notice::Column::Attempts).add(1),
        )
        .col_expr(notice::Column::UpdatedAt, Expr::value(now))
        .filter(notice::Column::Id.eq(n.id))
        .filter(notice::Column::Status.eq(n.status))
        .filter(notice::Column::Attempts.eq(n.attempts))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

async fn release<C: ConnectionTrait>(
    db: &C,
    id: i64,
    owner: &str,
    status: NoticeStatus,
    retry_at: Option<DateTime<Utc>>,
    error: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let mut q = notice::Entity::update_many()
        .col_expr(notice::Column::Status, Expr::value(status))
        .col_expr(
            notice::Column::LeaseOwner,
            Expr::value(Option::<String>::None),
        )
        .col_expr(notice::Column::LastError, Expr::value(error))
        .col_expr(notice::Column::UpdatedAt, Expr::value(now));
    if let Some(at) = retry_at {
        q = q.col_expr(notice::Column::ScheduledAt, Expr::value(at));
    }
    q.filter(notice::Column::Id.eq(id))
        .filter(notice::Column::LeaseOwner.eq(owner))
        .exec(db)
        .await?;
    Ok(())
}
