//! Running jobs: taking a job's lease, running it chunk by chunk with a cursor, resuming a dead runner's job.

use crate::entity::bulk_job;
use crate::error::{Error, Result};
use crate::events::{self, Actor};
use crate::registry::state::{self, Change};
use crate::types::OrgId;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};

use super::*;

/// The jobs a runner may take at `now`: queued, or running under a lease that has expired.
fn claimable(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(bulk_job::Column::Status.eq("queued"))
        .add(
            Condition::all()
                .add(bulk_job::Column::Status.eq("running"))
                .add(bulk_job::Column::LeaseExpiresAt.lt(now)),
        )
}

/// Takes a job for `owner` if it is queued, or running under an expired lease.
async fn claim<C: ConnectionTrait>(
    db: &C,
    id: i64,
    owner: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let res = bulk_job::Entity::update_many()
        .col_expr(bulk_job::Column::Status, Expr::value("running"))
        .col_expr(bulk_job::Column::LeaseOwner, Expr::value(owner))
        .col_expr(bulk_job::Column::LeaseExpiresAt, Expr::value(now + LEASE))
        .col_expr(bulk_job::Column::UpdatedAt, Expr::value(now))
        .filter(bulk_job::Column::Id.eq(id))
        .filter(claimable(now))
        .exec(db)
        .await?;
    if res.rows_affected == 1 {
        bulk_job::Entity::update_many()
            .col_expr(bulk_job::Column::StartedAt, Expr::value(now))
            .filter(bulk_job::Column::Id.eq(id))
            .filter(bulk_job::Column::StartedAt.is_null())
            .exec(db)
            .await?;
    }
    Ok(res.rows_affected == 1)
}

/// Runs every job that is queued or was abandoned; returns how many it ran.
pub async fn run_pending<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    owner: &str,
    now: impl Fn() -> DateTime<Utc>,
) -> Result<usize> {
    let t = now();
    let ids: Vec<i64> = bulk_job::Entity::find()
        .filter(claimable(t))
        .order_by_asc(bulk_job::Column::Id)
        .select_only()
        .column(bulk_job::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    let mut ran = 0;
    for id in ids {
        if run(db, id, owner, &now).await? {
            ran += 1;
        }
    }
    Ok(ran)
}

/// Runs one job to the end if `owner` can claim it. Returns whether it ran.
pub async fn run<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    id: i64,
    owner: &str,
    now: &impl Fn() -> DateTime<Utc>,
) -> Result<bool> {
    if !claim(db, id, owner, now()).await? {
        return Ok(false);
    }
    let Some(job) = get(db, id).await? else {
        return Ok(false);
    };
    let outcome = run_claimed(db, &job, owner, now).await;
    let t = now();
    let (status, error) = match &outcome {
        Ok(true) => ("done", None),
        // Lost the lease to another runner (it carries on), or cancelled.
        Ok(false) => return Ok(true),
        Err(e) => ("failed", Some(e.to_string())),
    };
    bulk_job::Entity::update_many()
        .col_expr(bulk_job::Column::Status, Expr::value(status))
        .col_expr(bulk_job::Column::Error, Expr::value(error.clone()))
        .col_expr(bulk_job::Column::FinishedAt, Expr::value(t))
        .col_expr(
            bulk_job::Column::LeaseOwner,
            Expr::value(Option::<String>::None),
        )
        .col_expr(bulk_job::Column::UpdatedAt, Expr::value(t))
        .filter(bulk_job::Column::Id.eq(id))
        .filter(bulk_job::Column::LeaseOwner.eq(owner))
        .filter(bulk_job::Column::Status.eq("running"))
        .exec(db)
        .await?;
    let job = get(db, id).await?.unwrap_or(job);
    if job.status == bulk_job::JobStatus::Cancelled {
        return Ok(true);
    }
    events::record(
        db,
        t,
        &Actor::Staff(job.created_by.clone()),
        None,
        if status == "done" {
            "bulk.finished"
        } else {
            "bulk.failed"
        },
        serde_json::json!({ "job_id": id, "action": job.action, "done": job.done, "skipped": job.skipped, "failed": job.failed, "error": error }),
    )
    .await?;
    Ok(true)
}

/// Works through the job's orgs; `Ok(false)` if the lease was lost.
async fn run_claimed<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    job: &bulk_job::Model,
    owner: &str,
    now: &impl Fn() -> DateTime<Utc>,
) -> Result<bool> {
    let action = Action::parse(&job.action, job.argument.as_deref())?;
    let selection: Selection = serde_json::from_value(job.selection.clone())
        .map_err(|e| Error::Internal(format!("job {} has a bad selection: {e}", job.id)))?;
    let actor = Actor::Staff(job.created_by.clone());
    let mut cursor = job.cursor.clone();
    loop {
        let ids: Vec<String> = match &selection {
            Selection::Ids { ids } => {
                let mut ids: Vec<&String> = ids
                    .iter()
                    .filter(|i| cursor.as_ref().is_none_or(|c| *i > c))
                    .collect();
                ids.sort();
                ids.dedup();
                ids.into_iter().take(CHUNK as usize).cloned().collect()
            }
            Selection::Filter(f) => {
                crate::registry::ids_after(db, &f.to_filter()?, cursor.as_deref(), CHUNK).await?
            }
        };
        let Some(last) = ids.last().cloned() else {
            return Ok(true);
        };
        let (mut done, mut skipped, mut failed) = (0i64, 0i64, 0i64);
        for id in &ids {
            let t = now();
            match apply_one(db, job.id, &action, id, &actor, t).await {
                Ok(true) => done += 1,
                Ok(false) => skipped += 1,
                Err(e) => {
                    failed += 1;
                    events::record(
                        db,
                        t,
                        &actor,
                        OrgId::parse(id).ok().as_ref(),
                        "bulk.org_failed",
                        serde_json::json!({ "job_id": job.id, "action": job.action, "error": e.to_string() }),
                    )
                    .await?;
                }
            }
        }
        let t = now();
        let res = bulk_job::Entity::update_many()
            .col_expr(bulk_job::Column::Cursor, Expr::value(last.clone()))
            .col_expr(
                bulk_job::Column::Done,
                Expr::col(bulk_job::Column::Done).add(done),
            )
            .col_expr(
                bulk_job::Column::Skipped,
                Expr::col(bulk_job::Column::Skipped).add(skipped),
            )
            .col_expr(
                bulk_job::Column::Failed,
                Expr::col(bulk_job::Column::Failed).add(failed),
            )
            .col_expr(bulk_job::Column::LeaseExpiresAt, Expr::value(t + LEASE))
            .col_expr(bulk_job::Column::UpdatedAt, Expr::value(t))
            .filter(bulk_job::Column::Id.eq(job.id))
            .filter(bulk_job::Column::LeaseOwner.eq(owner))
            .exec(db)
            .await?;
        if res.rows_affected != 1 {
            return Ok(false);
        }
        // A person cancelled the job: stop after the chunk just recorded.
        if get(db, job.id)
            .await?
            .is_some_and(|j| j.status == bulk_job::JobStatus::Cancelled)
        {
            return Ok(false);
        }
        cursor = Some(last);
    }
}

/// Applies the action to one org. `Ok(false)`: nothing to do for this org.
#[tracing::instrument(skip_all, fields(job_id, org_id = id))]
async fn apply_one<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    job_id: i64,
    action: &Action,
    id: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<bool> {
    let org_id = OrgId::parse(id).map_err(|e| Error::Internal(e.to_string()))?;
    match action {
        Action::SendLink => send_link(db, &org_id, &format!("job{job_id}"), actor, now).await,
        Action::MoveWave(w) => {
            Ok(
                crate::campaign::move_orgs(db, std::slice::from_ref(&org_id), w, actor, now)
                    .await?
                    == 1,
            )
        }
        Action::Exempt(reason) => Ok(matches!(
            state::apply(
                db,
                &org_id,
                Change::Exempt {
                    reason: reason.clone()
                },
                actor,
                now
            )
            .await?,
            state::Outcome::Changed { .. }
        )),
        Action::PauseNotices => set_notices_paused(db, &org_id, true, actor, now).await,
        Action::ResumeNotices => set_notices_paused(db, &org_id, false, actor, now).await,
        Action::AssignCsm(email) => assign_csm(db, &org_id, email.as_ref(), actor, now).await,
    }
}
