//! The `--revoke` pass: every connection that was live when the incident started has its grant
//! revoked at Salesforce, through the vault ([`Vault::revoke_for_incident`], which retires the
//! row under an admin lease like every other write), and its org moves to `needs_reauth` and
//! into the incident's emergency wave.
//!
//! Where it runs: in the worker, as the `incident` job (every few seconds), not in the CLI or
//! the server. A revocation of thousands of grants takes minutes at Salesforce's latency; the
//! worker is the long-lived process that already runs the heartbeat with the same per-instance
//! limits, it is restarted by its supervisor when it dies, and several workers may run at once —
//! so the pass is a set of rows any worker can pick up, not a loop tied to the process that
//! started the incident.
//!
//! Resumable, nothing twice, nothing missed: starting the incident writes one `pending` row per
//! live connection in `incident_connections`, in the transaction that records the incident (so
//! connections consented afterwards — the customers' new grants — are never revoked). A worker
//! claims a row (`pending` → `revoking`, and its claim number `attempts` + 1, in one conditional
//! UPDATE: two workers never both hold it), revokes, and finishes it (`revoked`, or `failed` with
//! Salesforce's answer) together with the org's move, in one transaction guarded by its claim
//! number. A worker killed mid-revocation leaves `revoking` rows; they are claimed again once the
//! claim has run out ([`Vault::incident_claim_horizon`]), and the vault then presents the
//! (already retired) row's token to Salesforce again, which answers `invalid_token` if the first
//! attempt got through — recorded as revoked, never counted or revoked twice. `failed` rows are
//! retried with the vault's revocation back-off up to [`MAX_ATTEMPTS`] claims.
//!
//! Concurrency: at most `heartbeat.concurrency` revocations at once, and `heartbeat.per_instance`
//! against one Salesforce instance (the limits the heartbeat keeps).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::entity::connection::{self, ConnectionStatus};
use crate::entity::{incident, incident_connection as ic};
use crate::error::Result;
use crate::events::{self, Actor};
use crate::types::OrgId;
use crate::vault::{IncidentRevoke, Vault};

/// Claims of one row before its failure is final (shown as failed, for a person to look at).
pub const MAX_ATTEMPTS: i32 = 5;
/// Rows claimed per pass (the next pass takes the rest).
const PAGE: u64 = 2_000;

/// How far an incident's revocation has come.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub pending: u64,
    /// Claimed by a worker, the call to Salesforce under way (or the worker died).
    pub revoking: u64,
    pub revoked: u64,
    pub failed: u64,
}

impl Progress {
    pub fn total(&self) -> u64 {
        self.pending + self.revoking + self.revoked + self.failed
    }
}

/// Counts an incident's rows by state.
pub async fn progress<C: ConnectionTrait>(db: &C, incident_id: i64) -> Result<Progress> {
    let count = |state: &'static str| {
        ic::Entity::find()
            .filter(ic::Column::IncidentId.eq(incident_id))
            .filter(ic::Column::State.eq(state))
            .count(db)
    };
    Ok(Progress {
        pending: count("pending").await?,
        revoking: count("revoking").await?,
        revoked: count("revoked").await?,
        failed: count("failed").await?,
    })
}

/// Writes a `pending` row for every connection live now (anything not already out of service
/// or waiting for a new consent). Returns how many.
pub(super) async fn enqueue<C: ConnectionTrait>(
    db: &C,
    incident_id: i64,
    now: DateTime<Utc>,
) -> Result<u64> {
    let live: Vec<(i64, OrgId)> = connection::Entity::find()
        .select_only()
        .column(connection::Column::Id)
        .column(connection::Column::OrgId)
        .filter(connection::Column::Status.is_not_in([
            ConnectionStatus::Revoked,
            ConnectionStatus::Superseded,
            ConnectionStatus::NeedsReauth,
        ]))
        .order_by_asc(connection::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    let n = live.len() as u64;
    for chunk in live.chunks(500) {
        let rows = chunk.iter().map(|(id, org)| ic::ActiveModel {
            incident_id: Set(incident_id),
            connection_id: Set(*id),
            org_id: Set(org.to_string()),
            state: Set("pending".into()),
            updated_at: Set(now),
            reason: Set(None),
            attempts: Set(0),
        });
        ic::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([ic::Column::IncidentId, ic::Column::ConnectionId])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    Ok(n)
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Pass {
    pub revoked: usize,
    pub failed: usize,
}

/// The open incident, if it revokes.
async fn revoking_incident<C: ConnectionTrait>(db: &C) -> Result<Option<incident::Model>> {
    Ok(incident::Entity::find()
        .filter(incident::Column::State.eq("open"))
        .filter(incident::Column::Revoke.eq(true))
        .one(db)
        .await?)
}

/// Rows to claim now: pending ones, claims that ran out, and failures due for another try.
async fn claimable(vault: &Vault, incident_id: i64, now: DateTime<Utc>) -> Result<Vec<ic::Model>> {
    let horizon = chrono::Duration::from_std(vault.incident_claim_horizon())
        .unwrap_or(chrono::Duration::minutes(5));
    let rows = ic::Entity::find()
        .filter(ic::Column::IncidentId.eq(incident_id))
        .filter(
            Condition::any()
                .add(ic::Column::State.eq("pending"))
                .add(
                    Condition::all()
                        .add(ic::Column::State.eq("revoking"))
                        .add(ic::Column::UpdatedAt.lt(now - horizon)),
                )
                .add(
                    Condition::all()
                        .add(ic::Column::State.eq("failed"))
                        .add(ic::Column::Attempts.lt(MAX_ATTEMPTS)),
                ),
        )
        .order_by_asc(ic::Column::ConnectionId)
        .limit(PAGE)
        .all(vault.db())
        .await?;
    Ok(rows
        .into_iter()
        .filter(|r| {
            r.state != "failed" || r.updated_at + crate::vault::revoke_backoff(r.attempts) <= now
        })
        .collect())
}

/// One pass of the `incident` job: claims and revokes what is due, a few at a time per
/// Salesforce instance.
pub async fn run(vault: &Vault, actor: &Actor) -> Result<Pass> {
    let db = vault.db();
    let Some(inc) = revoking_incident(db).await? else {
        return Ok(Pass::default());
    };
    let now = vault.leases().clock_now();
    let rows = claimable(vault, inc.id, now).await?;
    if rows.is_empty() {
        return Ok(Pass::default());
    }
    let mut instance_of: HashMap<i64, String> = HashMap::new();
    let ids: Vec<i64> = rows.iter().map(|r| r.connection_id).collect();
    for chunk in ids.chunks(500) {
        let found: Vec<(i64, String)> = connection::Entity::find()
            .select_only()
            .column(connection::Column::Id)
            .column(connection::Column::InstanceUrl)
            .filter(connection::Column::Id.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(db)
            .await?;
        instance_of.extend(found);
    }
    let hb = &vault.config().heartbeat;
    let mut instances: HashMap<String, Arc<Semaphore>> = HashMap::new();
    let jobs: Vec<_> = rows
        .into_iter()
        .map(|r| {
            let instance = instance_of
                .get(&r.connection_id)
                .cloned()
                .unwrap_or_default();
            let sem = instances
                .entry(instance)
                .or_insert_with(|| Arc::new(Semaphore::new(hb.per_instance.max(1))))
                .clone();
            (r, sem)
        })
        .collect();
    let inc = &inc;
    let results: Vec<Result<Option<bool>>> = futures::stream::iter(jobs)
        .map(|(row, sem)| async move {
            let _permit = sem.acquire_owned().await;
            one(vault, inc, row, actor).await
        })
        .buffer_unordered(hb.concurrency.max(1))
        .collect()
        .await;
    let mut pass = Pass::default();
    for r in results {
        match r? {
            Some(true) => pass.revoked += 1,
            Some(false) => pass.failed += 1,
            None => {}
        }
    }
    Ok(pass)
}

/// Claims, revokes and finishes one row. `None`: another worker claimed it first.
#[tracing::instrument(skip_all, fields(connection = row.connection_id))]
async fn one(
    vault: &Vault,
    inc: &incident::Model,
    row: ic::Model,
    actor: &Actor,
) -> Result<Option<bool>> {
    let db = vault.db();
    let claim = row.attempts + 1;
    let claimed = ic::Entity::update_many()
        .col_expr(ic::Column::State, Expr::value("revoking"))
        .col_expr(ic::Column::Attempts, Expr::col(ic::Column::Attempts).add(1))
        .col_expr(
            ic::Column::UpdatedAt,
            Expr::value(vault.leases().clock_now()),
        )
        .filter(ic::Column::IncidentId.eq(row.incident_id))
        .filter(ic::Column::ConnectionId.eq(row.connection_id))
        .filter(ic::Column::State.eq(row.state.as_str()))
        .filter(ic::Column::Attempts.eq(row.attempts))
        .exec(db)
        .await?;
    if claimed.rows_affected != 1 {
        return Ok(None);
    }
    let answer = vault.revoke_for_incident(row.connection_id).await?;
    let now = vault.leases().clock_now();
    let (state, reason, ok) = match &answer {
        IncidentRevoke::Revoked(d) => ("revoked", d.clone(), true),
        IncidentRevoke::Failed(d) => ("failed", d.clone(), false),
    };
    let txn = crate::db::begin_write(db).await?;
    let finished = ic::Entity::update_many()
        .col_expr(ic::Column::State, Expr::value(state))
        .col_expr(ic::Column::Reason, Expr::value(reason.clone()))
        .col_expr(ic::Column::UpdatedAt, Expr::value(now))
        .filter(ic::Column::IncidentId.eq(row.incident_id))
        .filter(ic::Column::ConnectionId.eq(row.connection_id))
        .filter(ic::Column::State.eq("revoking"))
        .filter(ic::Column::Attempts.eq(claim))
        .exec(&txn)
        .await?;
    if finished.rows_affected != 1 {
        // Our claim ran out and another worker holds the row now: it finishes it.
        return Ok(None);
    }
    let org = OrgId::parse(&row.org_id)
        .map_err(|e| crate::Error::Internal(format!("incident row org id: {e}")))?;
    let kind = if ok {
        "incident.connection_revoked"
    } else {
        "incident.revoke_failed"
    };
    events::record(
        &txn,
        now,
        actor,
        Some(&org),
        kind,
        serde_json::json!({
            "incident": inc.id,
            "connection_id": row.connection_id,
            "detail": reason,
            "attempts": claim,
        }),
    )
    .await?;
    if ok {
        super::emergency::affected(&txn, inc, &org, actor, now).await?;
    }
    txn.commit().await?;
    Ok(Some(ok))
}
