//! Waves: creating, scheduling, listing and pausing them, and moving orgs between them.

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use serde::Serialize;

use super::Steps;
use crate::entity::{org, wave};
use crate::error::{Error, Result};
use crate::events::{self, Actor};
use crate::registry::state::OrgState;
use crate::types::OrgId;

/// A wave with its progress.
#[derive(Debug, Clone, Serialize)]
pub struct WaveView {
    pub name: String,
    pub starts_at: Option<DateTime<Utc>>,
    pub deadline: Option<DateTime<Utc>>,
    pub steps: String,
    pub paused: bool,
    pub orgs: u64,
    /// Orgs that have consented (consented, verified, legacy_retired) or are exempt.
    pub done: u64,
}

/// Creates a wave (the schedule is validated first).
pub async fn create_wave<C: ConnectionTrait>(
    db: &C,
    name: &str,
    starts_at: Option<DateTime<Utc>>,
    deadline: DateTime<Utc>,
    steps: Option<&str>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<wave::Model> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::Invalid("a wave name is 1–100 characters".into()));
    }
    let steps = Steps::parse(steps.unwrap_or(crate::registry::DEFAULT_STEPS))
        .map_err(|e| Error::Invalid(format!("--steps: {e}")))?;
    let starts_at = starts_at.unwrap_or(now);
    if deadline <= starts_at {
        return Err(Error::Invalid(
            "the deadline must come after the start".into(),
        ));
    }
    if wave::Entity::find()
        .filter(wave::Column::Name.eq(name))
        .one(db)
        .await?
        .is_some()
    {
        return Err(Error::Conflict(format!(
            "a wave named `{name}` exists already"
        )));
    }
    let model = wave::Entity::insert(wave::ActiveModel {
        id: NotSet,
        name: Set(name.to_owned()),
        starts_at: Set(Some(starts_at)),
        deadline: Set(Some(deadline)),
        steps: Set(steps.to_string()),
        paused: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_with_returning(db)
    .await?;
    events::record(db, now, actor, None, "wave.created", serde_json::json!({ "name": name, "starts_at": starts_at, "deadline": deadline, "steps": model.steps })).await?;
    Ok(model)
}

/// Every wave, by name, without counting its orgs (cheap: for menus and schedules).
pub async fn all_waves<C: ConnectionTrait>(db: &C) -> Result<Vec<wave::Model>> {
    Ok(wave::Entity::find()
        .order_by_asc(wave::Column::Name)
        .all(db)
        .await?)
}

/// Every wave with its progress, by deadline.
pub async fn list_waves<C: ConnectionTrait>(db: &C) -> Result<Vec<WaveView>> {
    let mut out = Vec::new();
    for w in wave::Entity::find()
        .order_by_asc(wave::Column::Deadline)
        .all(db)
        .await?
    {
        let in_wave = org::Entity::find().filter(org::Column::WaveId.eq(w.id));
        let orgs = in_wave.clone().count(db).await?;
        let done = in_wave
            .filter(org::Column::State.is_in([
                OrgState::Consented,
                OrgState::Verified,
                OrgState::LegacyRetired,
                OrgState::Exempt,
            ]))
            .count(db)
            .await?;
        out.push(WaveView {
            name: w.name,
            starts_at: w.starts_at,
            deadline: w.deadline,
            // Schedules stored before durations were printed as `14d` read `14days`: show
            // every one in the spelling it is written in.
            steps: Steps::parse(&w.steps)
                .map(|s| s.to_string())
                .unwrap_or(w.steps),
            paused: w.paused,
            orgs,
            done,
        });
    }
    Ok(out)
}

async fn find<C: ConnectionTrait>(db: &C, name: &str) -> Result<wave::Model> {
    wave::Entity::find()
        .filter(wave::Column::Name.eq(name))
        .one(db)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no wave named `{name}`")))
}

/// Pauses or resumes a wave's notices.
pub async fn set_paused<C: ConnectionTrait>(
    db: &C,
    name: &str,
    paused: bool,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<()> {
    let w = find(db, name).await?;
    wave::Entity::update_many()
        .col_expr(wave::Column::Paused, Expr::value(paused))
        .col_expr(wave::Column::UpdatedAt, Expr::value(now))
        .filter(wave::Column::Id.eq(w.id))
        .exec(db)
        .await?;
    events::record(
        db,
        now,
        actor,
        None,
        if paused {
            "wave.paused"
        } else {
            "wave.resumed"
        },
        serde_json::json!({ "wave": name }),
    )
    .await?;
    Ok(())
}

/// Moves orgs into a wave; each starts a new round there (and is notified again).
pub async fn move_orgs<C: ConnectionTrait>(
    db: &C,
    ids: &[OrgId],
    wave_name: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<u64> {
    let w = find(db, wave_name).await?;
    let mut moved = 0;
    for id in ids {
        let o = crate::registry::find_org(db, id).await?;
        if o.wave_id == Some(w.id) {
            continue;
        }
        org::Entity::update_many()
            .col_expr(org::Column::WaveId, Expr::value(w.id))
            .col_expr(
                org::Column::CampaignRound,
                Expr::col(org::Column::CampaignRound).add(1),
            )
            .col_expr(org::Column::UpdatedAt, Expr::value(now))
            .filter(org::Column::Id.eq(id.as_str()))
            .exec(db)
            .await?;
        crate::campaign::notices::cancel_campaign(db, id, now).await?;
        events::record(
            db,
            now,
            actor,
            Some(id),
            "org.moved",
            serde_json::json!({ "from_wave_id": o.wave_id, "to": wave_name }),
        )
        .await?;
        moved += 1;
    }
    Ok(moved)
}

/// One wave in detail: its progress by org state and its notices by kind and status.
#[derive(Debug, Clone, Serialize)]
pub struct WaveDetail {
    #[serde(flatten)]
    pub wave: WaveView,
    pub orgs_by_state: std::collections::BTreeMap<String, u64>,
    pub notices: std::collections::BTreeMap<String, u64>,
}

/// Shows one wave.
pub async fn show_wave<C: ConnectionTrait>(db: &C, name: &str) -> Result<WaveDetail> {
    let w = find(db, name).await?;
    let view = list_waves(db)
        .await?
        .into_iter()
        .find(|v| v.name == w.name)
        .ok_or_else(|| Error::NotFound(format!("no wave named `{name}`")))?;
    let mut orgs_by_state = std::collections::BTreeMap::new();
    for o in org::Entity::find()
        .filter(org::Column::WaveId.eq(w.id))
        .all(db)
        .await?
    {
        *orgs_by_state.entry(o.state.to_string()).or_default() += 1;
    }
    let mut notices = std::collections::BTreeMap::new();
    for n in crate::entity::notice::Entity::find()
        .filter(crate::entity::notice::Column::WaveId.eq(w.id))
        .all(db)
        .await?
    {
        *notices
            .entry(format!("{} {}", n.kind, n.status))
            .or_default() += 1;
    }
    Ok(WaveDetail {
        wave: view,
        orgs_by_state,
        notices,
    })
}

/// Sets a wave's start and deadline.
pub async fn set_schedule<C: ConnectionTrait>(
    db: &C,
    name: &str,
    starts_at: Option<DateTime<Utc>>,
    deadline: Option<DateTime<Utc>>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<()> {
    let w = wave::Entity::find()
        .filter(wave::Column::Name.eq(name))
        .one(db)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no wave named `{name}`")))?;
    if let (Some(s), Some(d)) = (starts_at, deadline)
        && d <= s
    {
        return Err(Error::Invalid(
            "a wave's deadline must come after its start".into(),
        ));
    }
    wave::Entity::update(wave::ActiveModel {
        id: Set(w.id),
        starts_at: Set(starts_at),
        deadline: Set(deadline),
        updated_at: Set(now),
        ..Default::default()
    })
    .exec(db)
    .await?;
    events::record(
        db,
        now,
        actor,
        None,
        "wave.scheduled",
        serde_json::json!({ "wave": name, "starts_at": starts_at, "deadline": deadline }),
    )
    .await?;
    Ok(())
}
