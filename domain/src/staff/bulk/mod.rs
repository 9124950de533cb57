//! Bulk actions: one staff decision applied to many orgs. A job is a row; it runs in chunks of
//! orgs taken in id order, and after each chunk records its cursor and counts, so progress is
//! visible and a job interrupted by a crash resumes after the last finished chunk. Every
//! action is idempotent per org (moving to the wave an org is in, exempting an exempt org,
//! or sending the link notice this job already queued changes nothing), so the chunk that was
//! in flight at a crash is safe to run again.

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};

use crate::entity::{bulk_job, org};
use crate::error::{Error, Result};
use crate::events::{self, Actor};
use crate::registry::ListFilter;
use crate::registry::state::OrgState;
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
            arg.map(str::to_owned).ok_or_else(|| {
                Error::Invalid(format!(
                    "{what} is missing: type it in the field next to the action, then review again. Nothing was changed."
                ))
            })
        };
        Ok(match name.trim() {
            "" => {
                return Err(Error::Invalid(
                    "Choose an action from the Bulk action list, then review again. Nothing was changed.".into(),
                ));
            }
            "send_link" => Self::SendLink,
            "move_wave" => Self::MoveWave(need("The wave to move the orgs to")?),
            "exempt" => Self::Exempt(need("The reason for the exemption")?),
            "pause_notices" => Self::PauseNotices,
            "resume_notices" => Self::ResumeNotices,
            "assign_csm" => Self::AssignCsm(match arg {
                None => None,
                Some(a) => Some(
                    Email::parse(a).map_err(|e| Error::Invalid(format!("CSM email `{a}`: {e}")))?,
                ),
            }),
            other => {
                return Err(Error::Invalid(format!(
                    "There is no bulk action “{other}”; choose one from the list. Nothing was changed."
                )));
            }
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
        Selection::Filter(f) => crate::registry::count(db, &f.to_filter()?).await?,
    };
    if total == 0 {
        return Err(Error::Invalid("the filter matches no orgs".into()));
    }
    let row = bulk_job::ActiveModel {
        id: NotSet,
        action: Set(action.name().to_owned()),
        argument: Set(action.argument()),
        selection: Set(serde_json::to_value(selection)
            .map_err(|e| Error::Internal(format!("selection: {e}")))?),
        total: Set(i64::try_from(total).unwrap_or(i64::MAX)),
        done: Set(0),
        skipped: Set(0),
        failed: Set(0),
        cursor: Set(None),
        status: Set(bulk_job::JobStatus::Queued),
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

mod actions;
mod run;
pub use actions::*;
pub use run::*;
