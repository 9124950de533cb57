//! Bulk actions: one staff decision applied to many orgs. A job is a row; it runs in chunks of
//! orgs taken in id order, and after each chunk records its cursor and counts, so progress is
//! visible and a job interrupted by a crash resumes after the last finished chunk. Every
//! action is idempotent per org (moving to the wave an org is in, exempting an exempt org,
//! or sending the link notice this job already queued changes nothing), so the chunk that was
//! in flight at a crash is safe to run again.

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use serde::{Deserialize, Serialize};

use crate::entity::{bulk_job, org};
use crate::error::{Error, Result};
use crate::events::{self, Actor};
use crate::orgs::ListFilter;
use crate::state::{self, Change, OrgState};
use crate::types::{Email, OrgId};

/// Orgs per chunk: one progress update per chunk.
pub const CHUNK: u64 = 100;
/// How long a runner owns a job without renewing its lease.
const LEASE: chrono::Duration = chrono::Duration::seconds(60);

/// What to do to each org.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Queue the re-auth link notice to the org's contact (orgs that already consented, or
    /// whose notices are paused, are skipped).
    SendLink,
    MoveWave(String),
    Exempt(String),
    PauseNotices,
    ResumeNotices,
    /// `None` clears the CSM.
    AssignCsm(Option<Email>),
}

impl Action {
    /// Parses the form's action name and argument, checking the argument.
    pub fn parse(name: &str, argument: Option<&str>) -> Result<Self> {
        let arg = argument.map(str::trim).filter(|a| !a.is_empty());
        let need = |what: &str| {
            arg.map(str::to_owned)
                .ok_or_else(|| Error::Invalid(format!("{name} needs {what}")))
        };
        Ok(match name {
            "send_link" => Self::SendLink,
            "move_wave" => Self::MoveWave(need("a wave")?),
            "exempt" => Self::Exempt(need("a reason")?),
            "pause_notices" => Self::PauseNotices,
            "resume_notices" => Self::ResumeNotices,
            "assign_csm" => Self::AssignCsm(match arg {
                None => None,
                Some(a) => Some(
                    Email::parse(a).map_err(|e| Error::Invalid(format!("CSM email `{a}`: {e}")))?,
                ),
            }),
            other => return Err(Error::Invalid(format!("unknown bulk action `{other}`"))),
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::SendLink => "send_link",
            Self::MoveWave(_) => "move_wave",
            Self::Exempt(_) => "exempt",
            Self::PauseNotices => "pause_notices",
            Self::ResumeNotices => "resume_notices",
            Self::AssignCsm(_) => "assign_csm",
        }
    }

    pub fn argument(&self) -> Option<String> {
        match self {
            Self::MoveWave(a) | Self::Exempt(a) => Some(a.clone()),
            Self::AssignCsm(e) => e.as_ref().map(|e| e.as_str().to_owned()),
            _ => None,
        }
    }

    /// What a person reads on the confirmation page and the job page.
    pub fn describe(&self) -> String {
        match self {
            Self::SendLink => "send the re-auth link to the primary contact".into(),
            Self::MoveWave(w) => format!("move to wave {w}"),
            Self::Exempt(r) => format!("mark exempt ({r})"),
            Self::PauseNotices => "pause notices".into(),
            Self::ResumeNotices => "resume notices".into(),
            Self::AssignCsm(Some(e)) => format!("assign CSM {e}"),
            Self::AssignCsm(None) => "clear the CSM".into(),
        }
    }
}

/// The orgs a job acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Selection {
    /// Orgs ticked one by one.
    Ids { ids: Vec<String> },
    /// Every org matching a list filter, as it stood when the job ran.
    Filter(FilterSpec),
}

/// A list filter in storable form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterSpec {
    pub state: Option<String>,
    pub wave: Option<String>,
    pub csm: Option<String>,
    pub environment: Option<String>,
    pub search: Option<String>,
    /// Overdue as of this time.
    pub overdue_at: Option<DateTime<Utc>>,
}

impl FilterSpec {
    pub fn to_filter(&self) -> Result<ListFilter> {
        Ok(ListFilter {
            state: match &self.state {
                Some(s) => Some(
                    OrgState::parse(s)
                        .ok_or_else(|| Error::Invalid(format!("unknown state `{s}`")))?,
                ),
                None => None,
            },
            wave: self.wave.clone(),
            csm: self.csm.clone(),
            environment: self.environment.clone(),
            search: self.search.clone(),
            overdue_at: self.overdue_at,
            ..Default::default()
        })
    }
}

/// Creates a queued job after checking the action's argument and counting its orgs.
pub async fn submit<C: ConnectionTrait>(
    db: &C,
    action: &Action,
    selection: &Selection,
    staff_email: &str,
    now: DateTime<Utc>,
) -> Result<bulk_job::Model> {
    if let Action::MoveWave(w) = action
        && crate::entity::wave::Entity::find()
            .filter(crate::entity::wave::Column::Name.eq(w.as_str()))
            .one(db)
            .await?
            .is_none()
    {
        return Err(Error::Invalid(format!("no wave named `{w}`")));
    }
    let total = match selection {
        Selection::Ids { ids } => {
            if ids.is_empty() {
                return Err(Error::Invalid("no orgs are selected".into()));
            }
            for id in ids {
                OrgId::parse(id).map_err(|e| Error::Invalid(format!("org `{id}`: {e}")))?;
            }
            let found = sea_orm::PaginatorTrait::count(
                org::Entity::find().filter(org::Column::Id.is_in(ids.clone())),
                db,
            )
            .await?;
            if found != ids.len() as u64 {
                return Err(Error::Invalid(format!(
                    "{} of the selected orgs do not exist",
                    ids.len() as u64 - found
                )));
            }
            found
        }
        Selection::Filter(f) => crate::orgs::count(db, &f.to_filter()?).await?,
    };
    if total == 0 {
        return Err(Error::Invalid("the filter matches no orgs".into()));
    }
    let row = bulk_job::ActiveModel {
        id: NotSet,
        action: Set(action.name().to_owned()),
        argument: Set(action.argument()),
        selection: Set(serde_json::to_value(selection)
            .map_err(|e| Error::Invalid(format!("selection: {e}")))?),
        total: Set(i64::try_from(total).unwrap_or(i64::MAX)),
        done: Set(0),
        skipped: Set(0),
        failed: Set(0),
        cursor: Set(None),
        status: Set("queued".into()),
        error: Set(None),
        created_by: Set(staff_email.to_owned()),
        lease_owner: Set(None),
        lease_expires_at: Set(None),
        created_at: Set(now),
        started_at: Set(None),
        finished_at: Set(None),
        updated_at: Set(now),
    };
    let job = bulk_job::Entity::insert(row)
        .exec_with_returning(db)
        .await?;
    events::record(
        db,
        now,
        &Actor::Staff(staff_email.to_owned()),
        None,
        "bulk.submitted",
        serde_json::json!({ "job_id": job.id, "action": job.action, "argument": job.argument, "orgs": total, "selection": job.selection }),
    )
    .await?;
    Ok(job)
}

/// One job.
pub async fn get<C: ConnectionTrait>(db: &C, id: i64) -> Result<Option<bulk_job::Model>> {
    Ok(bulk_job::Entity::find_by_id(id).one(db).await?)
}

/// The most recent jobs.
pub async fn recent<C: ConnectionTrait>(db: &C, limit: u64) -> Result<Vec<bulk_job::Model>> {
    Ok(bulk_job::Entity::find()
        .order_by_desc(bulk_job::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// Cancels a queued or running job: orgs already done stay done (each has its event); the
/// runner stops after its current chunk. Returns whether the job was still going.
pub async fn cancel<C: ConnectionTrait>(
    db: &C,
    id: i64,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<bool> {
    let res = bulk_job::Entity::update_many()
        .col_expr(bulk_job::Column::Status, Expr::value("cancelled"))
        .col_expr(bulk_job::Column::FinishedAt, Expr::value(now))
        .col_expr(bulk_job::Column::UpdatedAt, Expr::value(now))
        .filter(bulk_job::Column::Id.eq(id))
        .filter(bulk_job::Column::Status.is_in(["queued", "running"]))
        .exec(db)
        .await?;
    if res.rows_affected == 1 {
        events::record(
            db,
            now,
            actor,
            None,
            "bulk.cancelled",
            serde_json::json!({ "job_id": id }),
        )
        .await?;
    }
    Ok(res.rows_affected == 1)
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
        .filter(
            Condition::any()
                .add(bulk_job::Column::Status.eq("queued"))
                .add(
                    Condition::all()
                        .add(bulk_job::Column::Status.eq("running"))
                        .add(bulk_job::Column::LeaseExpiresAt.lt(now)),
                ),
        )
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
        .filter(
            Condition::any()
                .add(bulk_job::Column::Status.eq("queued"))
                .add(
                    Condition::all()
                        .add(bulk_job::Column::Status.eq("running"))
                        .add(bulk_job::Column::LeaseExpiresAt.lt(t)),
                ),
        )
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
    if job.status == "cancelled" {
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
        .map_err(|e| Error::Invalid(format!("job {} has a bad selection: {e}", job.id)))?;
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
                crate::orgs::ids_after(db, &f.to_filter()?, cursor.as_deref(), CHUNK).await?
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
            .is_some_and(|j| j.status == "cancelled")
        {
            return Ok(false);
        }
        cursor = Some(last);
    }
}

/// Applies the action to one org. `Ok(false)`: nothing to do for this org.
async fn apply_one<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    job_id: i64,
    action: &Action,
    id: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<bool> {
    let org_id = OrgId::parse(id).map_err(|e| Error::Invalid(e.to_string()))?;
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

/// Queues the link notice for one org, once per `occasion` (a job, or a staff click). Orgs
/// that have consented, or whose notices are paused, get nothing (`Ok(false)`).
pub async fn send_link<C: ConnectionTrait>(
    db: &C,
    org_id: &OrgId,
    occasion: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<bool> {
    let o = org::Entity::find_by_id(org_id.as_str())
        .one(db)
        .await?
        .ok_or_else(|| Error::UnknownOrg(org_id.clone()))?;
    if o.notices_paused || !(o.state.awaits_customer() || o.state == OrgState::NeedsAttention) {
        return Ok(false);
    }
    let q = crate::notices::enqueue(
        db,
        org_id.as_str(),
        "link",
        format!("{org_id}|link|{occasion}"),
        now,
    )
    .await?;
    if q.new {
        events::record(
            db,
            now,
            actor,
            Some(org_id),
            "notice.link_requested",
            serde_json::json!({ "notice_id": q.notice_id, "recipient": q.recipient, "occasion": occasion }),
        )
        .await?;
    }
    Ok(q.new)
}

/// Pauses or resumes an org's notices.
pub async fn set_notices_paused<C: ConnectionTrait>(
    db: &C,
    org_id: &OrgId,
    paused: bool,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<bool> {
    let res = org::Entity::update_many()
        .col_expr(org::Column::NoticesPaused, Expr::value(paused))
        .col_expr(org::Column::UpdatedAt, Expr::value(now))
        .filter(org::Column::Id.eq(org_id.as_str()))
        .filter(org::Column::NoticesPaused.eq(!paused))
        .exec(db)
        .await?;
    if res.rows_affected == 0 {
        return Ok(false);
    }
    events::record(
        db,
        now,
        actor,
        Some(org_id),
        if paused {
            "org.notices_paused"
        } else {
            "org.notices_resumed"
        },
        serde_json::json!({}),
    )
    .await?;
    Ok(true)
}

/// Sets (or clears) an org's customer-success manager.
pub async fn assign_csm<C: ConnectionTrait>(
    db: &C,
    org_id: &OrgId,
    csm: Option<&Email>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<bool> {
    let o = org::Entity::find_by_id(org_id.as_str())
        .one(db)
        .await?
        .ok_or_else(|| Error::UnknownOrg(org_id.clone()))?;
    let new = csm.map(|e| e.as_str().to_owned());
    if o.csm_email == new {
        return Ok(false);
    }
    org::Entity::update_many()
        .col_expr(org::Column::CsmEmail, Expr::value(new.clone()))
        .col_expr(org::Column::UpdatedAt, Expr::value(now))
        .filter(org::Column::Id.eq(org_id.as_str()))
        .exec(db)
        .await?;
    events::record(
        db,
        now,
        actor,
        Some(org_id),
        "org.csm_assigned",
        serde_json::json!({ "from": o.csm_email, "to": new }),
    )
    .await?;
    Ok(true)
}
