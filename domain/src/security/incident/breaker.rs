//! The breaker: protects customers from our own faults. When more than `incident.breaker` of
//! the exchanges since the last hour (or since the last resume, if later) come back revoked or
//! `invalid_client`, and there were at least `incident.breaker_floor` of them, the breaker trips:
//! the heartbeat and the notice sender of every process (they read the one `breaker` row before
//! each run and batch) stop, one critical `breaker.tripped` alert says so, and nothing moves
//! until an operator resumes (`reauth incident resume`, or the dashboard) or starts an incident.
//! While an incident is open only `invalid_client` counts: revoked grants are then the incident
//! itself, and holding its emergency wave would keep the customers from being told.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde::Serialize;

use crate::alerts::{self, NewAlert, Severity};
use crate::config::IncidentConfig;
use crate::entity::{breaker, exchange};
use crate::error::Result;
use crate::events::{self, Actor};
use crate::salesforce::SfError;

/// The alert kind raised once when the breaker trips.
pub const ALERT_KIND: &str = "breaker.tripped";
/// Exchange classes the breaker counts (only the last while an incident is open).
const COUNTED: [&str; 2] = ["revoked", "invalid_client"];

async fn incident_open<C: ConnectionTrait>(db: &C) -> Result<bool> {
    Ok(crate::entity::incident::Entity::find()
        .filter(crate::entity::incident::Column::State.eq("open"))
        .count(db)
        .await?
        > 0)
}

/// What an exchange's refusal is recorded as: `invalid_client` (our client or secret is not
/// accepted), else the error class (`revoked`, `transient`, …).
pub fn class_of(e: &SfError) -> String {
    match e {
        SfError::OAuth { error, .. } if error == "invalid_client" => "invalid_client".to_owned(),
        e => crate::vault::classify(e).as_str().to_owned(),
    }
}

/// The breaker as the dashboard and `reauth incident status` show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BreakerStatus {
    pub tripped_at: Option<DateTime<Utc>>,
    /// What tripped it (the counts at that moment).
    pub exchanges: Option<i32>,
    pub refused: Option<i32>,
    pub resumed_at: Option<DateTime<Utc>>,
    pub resumed_by: Option<String>,
    /// The counts now, over the window the breaker judges.
    pub window_exchanges: u64,
    pub window_refused: u64,
}

impl BreakerStatus {
    pub fn tripped(&self) -> bool {
        self.tripped_at.is_some()
    }
}

fn closed() -> breaker::Model {
    breaker::Model {
        id: 1,
        tripped_at: None,
        exchanges: None,
        refused: None,
        counts_from: None,
        resumed_at: None,
        resumed_by: None,
    }
}

/// The breaker's row (the migration inserts it; it is put back if someone deleted it, so the
/// breaker can always trip).
async fn row<C: ConnectionTrait>(db: &C) -> Result<breaker::Model> {
    if let Some(b) = breaker::Entity::find_by_id(1).one(db).await? {
        return Ok(b);
    }
    breaker::Entity::insert(breaker::ActiveModel::from(closed()))
        .on_conflict(
            sea_orm::sea_query::OnConflict::column(breaker::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(breaker::Entity::find_by_id(1)
        .one(db)
        .await?
        .unwrap_or_else(closed))
}

/// Whether the breaker is tripped now (one primary-key read).
pub async fn is_tripped<C: ConnectionTrait>(db: &C) -> Result<bool> {
    Ok(row(db).await?.tripped_at.is_some())
}

/// The exchanges in the breaker's window and how many of them it counts against.
async fn window<C: ConnectionTrait>(
    db: &C,
    b: &breaker::Model,
    now: DateTime<Utc>,
) -> Result<(u64, u64)> {
    let hour_ago = now - chrono::Duration::hours(1);
    let from = b.counts_from.map_or(hour_ago, |f| f.max(hour_ago));
    let all = exchange::Entity::find().filter(exchange::Column::At.gte(from));
    let total = all.clone().count(db).await?;
    // While an incident is open, revoked grants are what the incident is about (Salesforce
    // revoked them, or the operator asked for it) and its emergency wave must reach those
    // customers: only `invalid_client`, still our own fault (a wrong new secret), counts.
    let counted: &[&str] = if incident_open(db).await? {
        &COUNTED[1..]
    } else {
        &COUNTED
    };
    let refused = all
        .filter(exchange::Column::Class.is_in(counted.iter().copied()))
        .count(db)
        .await?;
    Ok((total, refused))
}

/// The breaker's state and the window's counts.
pub async fn status<C: ConnectionTrait>(db: &C, now: DateTime<Utc>) -> Result<BreakerStatus> {
    let b = row(db).await?;
    let (window_exchanges, window_refused) = window(db, &b, now).await?;
    Ok(BreakerStatus {
        tripped_at: b.tripped_at,
        exchanges: b.exchanges,
        refused: b.refused,
        resumed_at: b.resumed_at,
        resumed_by: b.resumed_by,
        window_exchanges,
        window_refused,
    })
}

/// Judges the window and trips the breaker if it must; answers whether it is tripped. The one
/// process whose UPDATE trips it records the event and raises the alert.
pub async fn check<C: ConnectionTrait>(
    db: &C,
    cfg: &IncidentConfig,
    now: DateTime<Utc>,
) -> Result<bool> {
    let b = row(db).await?;
    if b.tripped_at.is_some() {
        return Ok(true);
    }
    let (total, refused) = window(db, &b, now).await?;
    let limit = cfg.breaker_fraction().unwrap_or(0.2);
    #[expect(
        clippy::cast_precision_loss,
        reason = "exchange counts of an hour are far below 2^52"
    )]
    let over = total >= u64::from(cfg.breaker_floor) && refused as f64 > limit * total as f64;
    if !over {
        return Ok(false);
    }
    let as_i32 = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
    let res = breaker::Entity::update_many()
        .col_expr(breaker::Column::TrippedAt, Expr::value(now))
        .col_expr(breaker::Column::Exchanges, Expr::value(as_i32(total)))
        .col_expr(breaker::Column::Refused, Expr::value(as_i32(refused)))
        .filter(breaker::Column::Id.eq(1))
        .filter(breaker::Column::TrippedAt.is_null())
        .exec(db)
        .await?;
    if res.rows_affected == 1 {
        let details = serde_json::json!({
            "exchanges": total,
            "refused": refused,
            "breaker": cfg.breaker,
            "floor": cfg.breaker_floor,
        });
        events::record(
            db,
            now,
            &Actor::System,
            None,
            "breaker.tripped",
            details.clone(),
        )
        .await?;
        alerts::raise_keyed(
            db,
            NewAlert {
                kind: ALERT_KIND,
                severity: Severity::Critical,
                org_id: None,
                subject: None,
                message: format!(
                    "{refused} of the last {total} exchanges came back revoked or invalid_client (more than {}): the heartbeat and every notice are paused. Check the client secret and the database (a restore from an old backup?), then run `reauth incident resume`, or `reauth incident start` if the app or its secret is compromised.",
                    cfg.breaker
                ),
                details,
                affected_orgs: None,
            },
            now,
        )
        .await?;
    }
    Ok(true)
}

/// Resets a tripped breaker: the heartbeat and the notices go on, and exchanges before `now` no
/// longer count. Answers whether it was tripped (resuming a closed breaker changes nothing).
pub async fn resume<C: ConnectionTrait>(db: &C, actor: &Actor, now: DateTime<Utc>) -> Result<bool> {
    let res = breaker::Entity::update_many()
        .col_expr(
            breaker::Column::TrippedAt,
            Expr::value(None::<DateTime<Utc>>),
        )
        .col_expr(breaker::Column::CountsFrom, Expr::value(now))
        .col_expr(breaker::Column::ResumedAt, Expr::value(now))
        .col_expr(
            breaker::Column::ResumedBy,
            Expr::value(actor.name().map(str::to_owned)),
        )
        .filter(breaker::Column::Id.eq(1))
        .filter(breaker::Column::TrippedAt.is_not_null())
        .exec(db)
        .await?;
    if res.rows_affected == 0 {
        return Ok(false);
    }
    events::record(
        db,
        now,
        actor,
        None,
        "breaker.resumed",
        serde_json::json!({}),
    )
    .await?;
    alerts::resolve_kind(db, ALERT_KIND, now).await?;
    Ok(true)
}
