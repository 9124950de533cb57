//! Incidents: `reauth incident start --reason TEXT [--revoke]` records why and who, refuses a
//! second one while one is open, ends the breaker's hold (the incident is the operator's answer
//! to it), says whether the consumer secret was rotated, creates the incident's emergency wave
//! ([`super::emergency`]) and, with `--revoke`, one `pending` revocation per live connection for
//! the worker's pass ([`super::revoke`]) — all in one transaction; `close` ends it and its
//! emergency wave's remaining notices; `status`
//! reports it with its progress (revoked, notified, re-consented).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};
use serde::Serialize;

use crate::config::Config;
use crate::entity::incident;
use crate::entity::notice::{self, NoticeKind, NoticeStatus};
use crate::entity::org;
use crate::error::{Error, Result};
use crate::events::{self, Actor};
use crate::registry::state::OrgState;

/// An incident as `reauth incident status` and the dashboard show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentView {
    pub id: i64,
    pub reason: String,
    pub started_at: DateTime<Utc>,
    pub started_by: String,
    pub revoke: bool,
    pub state: String,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_by: Option<String>,
    /// Connections whose revocation is recorded as done.
    pub revoked: u64,
    /// The revocation pass, row by row (all zero without `--revoke`).
    pub progress: super::revoke::Progress,
    /// The emergency wave's name.
    pub wave: Option<String>,
    /// Orgs in the emergency wave.
    pub affected: u64,
    /// Orgs that were sent the incident's message (at least once).
    pub notified: u64,
    /// Orgs of the wave that have consented again since.
    pub reconsented: u64,
}

/// What starting an incident did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Started {
    pub incident: IncidentView,
    /// `salesforce.secret_rotated_at` is on or after the incident's day.
    pub secret_rotated: bool,
    /// The breaker was tripped and the incident ended its hold.
    pub breaker_resumed: bool,
    /// Connections queued for revocation (`--revoke`).
    pub to_revoke: u64,
}

fn who(actor: &Actor) -> String {
    actor.name().unwrap_or("reauth").to_owned()
}

async fn view<C: ConnectionTrait>(db: &C, m: incident::Model) -> Result<IncidentView> {
    let progress = super::revoke::progress(db, m.id).await?;
    let (mut affected, mut notified, mut reconsented, mut wave) = (0, 0, 0, None);
    if let Some(w) = m.wave_id {
        wave = crate::entity::wave::Entity::find_by_id(w)
            .one(db)
            .await?
            .map(|w| w.name);
        let in_wave = || org::Entity::find().filter(org::Column::WaveId.eq(w));
        affected = in_wave().count(db).await?;
        reconsented = in_wave()
            .filter(org::Column::State.is_in([
                OrgState::Consented,
                OrgState::Verified,
                OrgState::LegacyRetired,
            ]))
            .count(db)
            .await?;
        notified = notice::Entity::find()
            .select_only()
            .column(notice::Column::OrgId)
            .distinct()
            .filter(notice::Column::WaveId.eq(w))
            .filter(notice::Column::Kind.eq(NoticeKind::Incident))
            .filter(notice::Column::Status.is_in([NoticeStatus::Sent, NoticeStatus::Logged]))
            .count(db)
            .await?;
    }
    let revoked = progress.revoked;
    Ok(IncidentView {
        progress,
        wave,
        affected,
        notified,
        reconsented,
        id: m.id,
        reason: m.reason,
        started_at: m.started_at,
        started_by: m.started_by,
        revoke: m.revoke,
        state: m.state,
        closed_at: m.closed_at,
        closed_by: m.closed_by,
        revoked,
    })
}

async fn open_row<C: ConnectionTrait>(db: &C) -> Result<Option<incident::Model>> {
    Ok(incident::Entity::find()
        .filter(incident::Column::State.eq("open"))
        .one(db)
        .await?)
}

/// The open incident, else the latest closed one, else none.
pub async fn current<C: ConnectionTrait>(db: &C) -> Result<Option<IncidentView>> {
    let row = match open_row(db).await? {
        Some(m) => Some(m),
        None => {
            incident::Entity::find()
                .order_by_desc(incident::Column::Id)
                .one(db)
                .await?
        }
    };
    match row {
        Some(m) => Ok(Some(view(db, m).await?)),
        None => Ok(None),
    }
}

/// Starts an incident. A blank reason or an incident already open is refused and changes
/// nothing.
pub async fn start(
    db: &DatabaseConnection,
    config: &Config,
    actor: &Actor,
    reason: &str,
    revoke: bool,
    now: DateTime<Utc>,
) -> Result<Started> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Error::Invalid(
            "an incident needs a reason: say what was compromised (--reason TEXT)".into(),
        ));
    }
    let txn = db.begin().await?;
    if let Some(open) = open_row(&txn).await? {
        return Err(already_open(&open));
    }
    let row = incident::ActiveModel {
        id: NotSet,
        reason: Set(reason.to_owned()),
        started_at: Set(now),
        started_by: Set(who(actor)),
        revoke: Set(revoke),
        state: Set("open".into()),
        open_slot: Set(Some(1)),
        closed_at: Set(None),
        closed_by: Set(None),
        wave_id: Set(None),
    };
    // The unique open slot refuses a second incident started at the same moment elsewhere.
    let id = match incident::Entity::insert(row).exec(&txn).await {
        Ok(r) => r.last_insert_id,
        Err(e) if e.sql_err().is_some() => {
            drop(txn);
            return match open_row(db).await? {
                Some(open) => Err(already_open(&open)),
                None => Err(e.into()),
            };
        }
        Err(e) => return Err(e.into()),
    };
    let secret_rotated = config
        .salesforce
        .secret_rotated_at
        .is_some_and(|d| d >= now.date_naive());
    let wave_id = super::emergency::create_wave(&txn, config, id, actor, now).await?;
    incident::Entity::update_many()
        .col_expr(incident::Column::WaveId, Expr::value(wave_id))
        .filter(incident::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    // Orgs Salesforce refused in the hour before (the breaker held their "reconnect" notices):
    // into the wave now, before a resumed sender could send those first.
    let mut enrolled = 0;
    loop {
        let n = super::emergency::enroll_refused(&txn, actor, now).await?;
        if n == 0 {
            break;
        }
        enrolled += n;
    }
    let to_revoke = if revoke {
        super::revoke::enqueue(&txn, id, now).await?
    } else {
        0
    };
    events::record(
        &txn,
        now,
        actor,
        None,
        "incident.started",
        serde_json::json!({
            "incident": id,
            "reason": reason,
            "revoke": revoke,
            "secret_rotated": secret_rotated,
            "to_revoke": to_revoke,
            "enrolled": enrolled,
            "wave": super::emergency::wave_name(id),
        }),
    )
    .await?;
    let breaker_resumed = super::breaker::resume(&txn, actor, now).await?;
    txn.commit().await?;
    let m = incident::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| Error::Internal(format!("incident {id} vanished after insert")))?;
    Ok(Started {
        incident: view(db, m).await?,
        secret_rotated,
        breaker_resumed,
        to_revoke,
    })
}

/// The word an operator types on the dashboard to confirm starting an incident.
pub const CONFIRM_WORD: &str = "START";

/// Starts an incident from the dashboard: as [`start`], once the operator typed
/// [`CONFIRM_WORD`]; any other word is refused and changes nothing.
pub async fn start_confirmed(
    db: &DatabaseConnection,
    config: &Config,
    actor: &Actor,
    reason: &str,
    revoke: bool,
    typed: &str,
    now: DateTime<Utc>,
) -> Result<Started> {
    if typed.trim() != CONFIRM_WORD {
        return Err(Error::Invalid(format!(
            "to start an incident, type {CONFIRM_WORD} in the confirmation box: the word typed was not {CONFIRM_WORD}, so nothing was started"
        )));
    }
    start(db, config, actor, reason, revoke, now).await
}

/// What the dashboard's Incident page shows.
#[derive(Debug, Clone, Serialize)]
pub struct Dashboard {
    pub breaker: super::breaker::BreakerStatus,
    /// The open incident, else the latest closed one.
    pub incident: Option<IncidentView>,
}

/// The breaker and the current incident with its progress.
pub async fn dashboard<C: ConnectionTrait>(db: &C, now: DateTime<Utc>) -> Result<Dashboard> {
    Ok(Dashboard {
        breaker: super::breaker::status(db, now).await?,
        incident: current(db).await?,
    })
}

fn already_open(open: &incident::Model) -> Error {
    Error::Conflict(format!(
        "incident {} is already open (started {} by {}): close it with `reauth incident close` before starting another",
        open.id,
        open.started_at.to_rfc3339(),
        open.started_by
    ))
}

/// Closes the open incident and ends its emergency wave ([`super::emergency::end_wave`]: no
/// more "your app was compromised" reminders or escalations); with none open, refuses and
/// changes nothing.
pub async fn close(
    db: &DatabaseConnection,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<IncidentView> {
    let txn = db.begin().await?;
    let Some(open) = open_row(&txn).await? else {
        return Err(Error::NotFound(
            "no incident is open: nothing to close".into(),
        ));
    };
    let res = incident::Entity::update_many()
        .col_expr(incident::Column::State, Expr::value("closed"))
        .col_expr(incident::Column::OpenSlot, Expr::value(None::<i32>))
        .col_expr(incident::Column::ClosedAt, Expr::value(now))
        .col_expr(incident::Column::ClosedBy, Expr::value(who(actor)))
        .filter(incident::Column::Id.eq(open.id))
        .filter(incident::Column::State.eq("open"))
        .exec(&txn)
        .await?;
    if res.rows_affected != 1 {
        return Err(Error::NotFound(
            "no incident is open: nothing to close".into(),
        ));
    }
    let ended = super::emergency::end_wave(&txn, &open, actor, now).await?;
    events::record(
        &txn,
        now,
        actor,
        None,
        "incident.closed",
        serde_json::json!({
            "incident": open.id,
            "notices_cancelled": ended.cancelled,
            "still_to_consent": ended.still_to_consent,
        }),
    )
    .await?;
    txn.commit().await?;
    let m = incident::Entity::find_by_id(open.id)
        .one(db)
        .await?
        .ok_or_else(|| Error::Internal(format!("incident {} vanished", open.id)))?;
    view(db, m).await
}
