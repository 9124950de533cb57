//! Incidents: `reauth incident start --reason TEXT` records why and who, refuses a second one
//! while one is open, ends the breaker's hold (the incident is the operator's answer to it), and
//! says whether the consumer secret was rotated; `close` ends it; `status` reports it.
//!
//! Not built yet: `--revoke` (revoking every refresh token at Salesforce through the job system)
//! and the emergency wave with its own notice kind. `start --revoke` is refused and changes
//! nothing.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, TransactionTrait,
};
use serde::Serialize;

use crate::config::Config;
use crate::entity::{incident, incident_connection};
use crate::error::{Error, Result};
use crate::events::{self, Actor};

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
}

/// What starting an incident did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Started {
    pub incident: IncidentView,
    /// `salesforce.secret_rotated_at` is on or after the incident's day.
    pub secret_rotated: bool,
    /// The breaker was tripped and the incident ended its hold.
    pub breaker_resumed: bool,
}

fn who(actor: &Actor) -> String {
    actor.name().unwrap_or("reauth").to_owned()
}

async fn view<C: ConnectionTrait>(db: &C, m: incident::Model) -> Result<IncidentView> {
    let revoked = incident_connection::Entity::find()
        .filter(incident_connection::Column::IncidentId.eq(m.id))
        .filter(incident_connection::Column::State.eq("revoked"))
        .count(db)
        .await?;
    Ok(IncidentView {
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

/// Starts an incident. A blank reason, `revoke` (not built yet) or an incident already open is
/// refused and changes nothing.
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
    if revoke {
        return Err(Error::Invalid(
            "revoking every token (--revoke) is not built yet: rotate the consumer secret at Salesforce, put the new one last in salesforce.client_secrets, set salesforce.secret_rotated_at, and start the incident without --revoke".into(),
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

/// Closes the open incident; with none open, refuses and changes nothing.
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
    events::record(
        &txn,
        now,
        actor,
        None,
        "incident.closed",
        serde_json::json!({ "incident": open.id }),
    )
    .await?;
    txn.commit().await?;
    let m = incident::Entity::find_by_id(open.id)
        .one(db)
        .await?
        .ok_or_else(|| Error::Internal(format!("incident {} vanished", open.id)))?;
    view(db, m).await
}
