//! Alert delivery: an outbox of (alert, round, recipient) rows, claimed with a lease and retried
//! with backoff, so an alert raised while the webhook or the mail server is down goes out when it
//! is back — once per recipient: the unique index on (alert, round, channel, target) refuses a
//! second row, and the lease keeps two workers off one row.
//!
//! Remaining window, as with notices: if this process dies after the receiver accepted a delivery
//! and before the status write, the lease expires and it is sent again, with the same
//! `X-Reauth-Delivery` id (webhook) or Message-ID (mail) so the receiver can drop the repeat.
//!
//! The webhook body is JSON with a `text` field (what a Slack or Teams incoming webhook shows)
//! plus the alert's fields. With `alerts.webhook_secret` set, `X-Reauth-Signature` is
//! `sha256=` + hex HMAC-SHA256 of `"{X-Reauth-Timestamp}.{body}"` under the secret.

mod channel;
mod message;

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionSession, TransactionTrait,
};

use crate::config::Config;
use crate::entity::{alert, alert_delivery, org};
use crate::error::Result;

pub use channel::webhook_client;
use channel::{send_mail, send_webhook};
pub use message::{headline, payload, signature, text};

/// How long a claimed delivery stays ours, at least: a webhook call is bounded at 10 s, a mail at
/// `mail.timeout`, and the lease is the longer of this and twice that.
const LEASE: chrono::Duration = chrono::Duration::minutes(2);
/// Attempts before a delivery is given up: with backoff capped at 30 minutes, about four days.
pub const MAX_ATTEMPTS: i32 = 200;

/// The wait before attempt `attempts + 1`: 30 s doubling, at most 30 minutes.
pub fn backoff(attempts: i32) -> chrono::Duration {
    let secs = 30i64.saturating_mul(1i64 << attempts.clamp(0, 16));
    chrono::Duration::seconds(Ord::min(secs, 1800))
}

/// What a delivery pass needs.
pub struct Dispatcher<'a> {
    pub config: &'a Config,
    pub mailer: &'a crate::mail::Mailer,
    pub http: &'a reqwest::Client,
    /// This process, in leases.
    pub owner: &'a str,
}

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeliveryReport {
    /// Notification rounds turned into deliveries.
    pub rounds: u32,
    pub sent: u32,
    pub retried: u32,
    pub failed: u32,
}

/// Queues due notification rounds, then sends due deliveries.
pub async fn run<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    d: &Dispatcher<'_>,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<DeliveryReport> {
    let mut report = DeliveryReport {
        rounds: queue_rounds(db, d.config, now, limit).await?,
        ..DeliveryReport::default()
    };
    send_due(db, d, now, limit, &mut report).await?;
    Ok(report)
}

/// Turns each alert's pending notification round into one delivery per recipient.
pub async fn queue_rounds<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    config: &Config,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<u32> {
    let due = alert::Entity::find()
        .filter(alert::Column::NotifyDueAt.lte(now))
        .order_by_asc(alert::Column::NotifyDueAt)
        .limit(limit)
        .all(db)
        .await?;
    let mut rounds = 0;
    for a in due {
        let wanted = a.acknowledged_at.is_none()
            && a.resolved_at.is_none()
            && a.severity >= config.alerts.min_severity;
        let round = a.notify_round + 1;
        let txn = db.begin().await?;
        // The claim: only the pass that moves the round on queues its deliveries.
        let claimed = alert::Entity::update_many()
            .col_expr(
                alert::Column::NotifyDueAt,
                Expr::value(None::<DateTime<Utc>>),
            )
            .col_expr(alert::Column::NotifyRound, Expr::value(round))
            .col_expr(
                alert::Column::NotifiedAt,
                if wanted {
                    Expr::value(now)
                } else {
                    Expr::col(alert::Column::NotifiedAt)
                },
            )
            .filter(alert::Column::Id.eq(a.id))
            .filter(alert::Column::NotifyRound.eq(a.notify_round))
            .filter(alert::Column::NotifyDueAt.is_not_null())
            .exec(&txn)
            .await?;
        if claimed.rows_affected == 1 && wanted {
            let mut targets: Vec<(&str, String)> = config
                .alerts
                .email
                .iter()
                .map(|e| ("email", e.trim().to_ascii_lowercase()))
                .collect();
            if config.alerts.webhook_url.is_some() {
                targets.push(("webhook", "webhook".to_owned()));
            }
            for (channel, target) in targets {
                alert_delivery::Entity::insert(alert_delivery::ActiveModel {
                    id: NotSet,
                    alert_id: Set(a.id),
                    round: Set(round),
                    channel: Set(channel.to_owned()),
                    target: Set(target),
                    status: Set("pending".into()),
                    attempts: Set(0),
                    next_attempt_at: Set(now),
                    lease_expires_at: Set(None),
                    lease_owner: Set(None),
                    last_error: Set(None),
                    created_at: Set(now),
                    sent_at: Set(None),
                })
                .on_conflict(
                    OnConflict::columns([
                        alert_delivery::Column::AlertId,
                        alert_delivery::Column::Round,
                        alert_delivery::Column::Channel,
                        alert_delivery::Column::Target,
                    ])
                    .do_nothing()
                    .to_owned(),
                )
                .exec_without_returning(&txn)
                .await?;
            }
            rounds += 1;
        }
        txn.commit().await?;
    }
    Ok(rounds)
}

async fn send_due<C: ConnectionTrait>(
    db: &C,
    d: &Dispatcher<'_>,
    now: DateTime<Utc>,
    limit: u64,
    report: &mut DeliveryReport,
) -> Result<()> {
    let due = alert_delivery::Entity::find()
        .filter(due_condition(now))
        .order_by_asc(alert_delivery::Column::NextAttemptAt)
        .limit(limit)
        .all(db)
        .await?;
    let (pass_began, started) = (now, std::time::Instant::now());
    let lease = LEASE.max(d.config.mail.lease());
    for row in due {
        // Deliveries are sent one after another: each lease counts from its own claim.
        let now = pass_began + chrono::Duration::from_std(started.elapsed()).unwrap_or_default();
        let claimed = alert_delivery::Entity::update_many()
            .col_expr(alert_delivery::Column::Status, Expr::value("sending"))
            .col_expr(
                alert_delivery::Column::LeaseExpiresAt,
                Expr::value(now + lease),
            )
            .col_expr(alert_delivery::Column::LeaseOwner, Expr::value(d.owner))
            .col_expr(
                alert_delivery::Column::Attempts,
                Expr::col(alert_delivery::Column::Attempts).add(1),
            )
            .filter(alert_delivery::Column::Id.eq(row.id))
            .filter(alert_delivery::Column::Attempts.eq(row.attempts))
            .filter(due_condition(now))
            .exec(db)
            .await?;
        if claimed.rows_affected != 1 {
            continue;
        }
        let attempts = row.attempts + 1;
        let Some(a) = alert::Entity::find_by_id(row.alert_id).one(db).await? else {
            continue;
        };
        let org_name = match &a.org_id {
            Some(id) => org::Entity::find_by_id(id.clone())
                .one(db)
                .await?
                .map(|o| o.name),
            None => None,
        };
        let result = match row.channel.as_str() {
            "webhook" => send_webhook(d, &row, &a, org_name.as_deref(), now).await,
            _ => send_mail(d, &row, &a, org_name.as_deref()).await,
        };
        let mut q = alert_delivery::Entity::update_many()
            .col_expr(
                alert_delivery::Column::LeaseExpiresAt,
                Expr::value(None::<DateTime<Utc>>),
            )
            .col_expr(
                alert_delivery::Column::LeaseOwner,
                Expr::value(None::<String>),
            );
        match result {
            Ok(()) => {
                report.sent += 1;
                q = q
                    .col_expr(alert_delivery::Column::Status, Expr::value("sent"))
                    .col_expr(alert_delivery::Column::SentAt, Expr::value(now))
                    .col_expr(
                        alert_delivery::Column::LastError,
                        Expr::value(None::<String>),
                    );
            }
            Err(Failure::Retry(e)) if attempts < MAX_ATTEMPTS => {
                report.retried += 1;
                tracing::warn!(delivery = row.id, channel = row.channel, error = %e, "alert delivery will be retried");
                q = q
                    .col_expr(alert_delivery::Column::Status, Expr::value("pending"))
                    .col_expr(
                        alert_delivery::Column::NextAttemptAt,
                        Expr::value(now + backoff(attempts)),
                    )
                    .col_expr(alert_delivery::Column::LastError, Expr::value(e));
            }
            Err(Failure::Retry(e) | Failure::GiveUp(e)) => {
                report.failed += 1;
                tracing::error!(delivery = row.id, channel = row.channel, error = %e, "alert delivery failed for good");
                q = q
                    .col_expr(alert_delivery::Column::Status, Expr::value("failed"))
                    .col_expr(alert_delivery::Column::LastError, Expr::value(e));
            }
        }
        q.filter(alert_delivery::Column::Id.eq(row.id))
            .filter(alert_delivery::Column::LeaseOwner.eq(d.owner))
            .exec(db)
            .await?;
    }
    Ok(())
}

fn due_condition(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(
            alert_delivery::Column::Status
                .eq("pending")
                .and(alert_delivery::Column::NextAttemptAt.lte(now)),
        )
        .add(
            alert_delivery::Column::Status
                .eq("sending")
                .and(alert_delivery::Column::LeaseExpiresAt.lt(now)),
        )
}

enum Failure {
    Retry(String),
    GiveUp(String),
}
