//! The emergency wave: every incident gets a wave of its own (`incident-<id>`, schedule
//! `incident.steps`, deadline `incident.deadline` from the start), and every affected org moves
//! to `needs_reauth` and into it. The campaign's scheduler then creates its notices like any
//! wave's — one per org, step and round, through the outbox, so each goes out exactly once — with
//! the incident's own wording (`templates/email/incident/`), and consenting stops them.
//!
//! Which orgs are affected:
//! - with `--revoke`: every org whose connection the pass revoked (as each is revoked);
//! - on the secret-rotation path nothing is revoked, and a rotated secret leaves every customer's
//!   grant working: asking them all to consent again would be the destructive step the rotation
//!   avoids. Affected are the orgs whose grant Salesforce refuses — those in `needs_reauth` that
//!   entered it while the incident is open, or in the hour before it started (the breaker's
//!   window: a mass revocation by Salesforce trips the breaker, which holds their notices, and
//!   the operator answers with the incident). They are moved as the worker finds them
//!   ([`enroll_refused`]), and the pending "reconnect" notice the heartbeat queued for them is
//!   cancelled by the move, so each gets the incident's message, not both.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, TransactionTrait,
};

use crate::config::Config;
use crate::entity::{incident, org, wave};
use crate::error::{Error, Result};
use crate::events::Actor;
use crate::registry::state::{self, Change, OrgState};
use crate::types::OrgId;

/// The emergency wave's name for an incident.
pub fn wave_name(incident_id: i64) -> String {
    format!("incident-{incident_id}")
}

/// Creates the incident's wave; returns its id.
pub(super) async fn create_wave<C: ConnectionTrait>(
    db: &C,
    config: &Config,
    incident_id: i64,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<i64> {
    let deadline = now
        + chrono::Duration::from_std(config.incident.deadline).unwrap_or(chrono::Duration::days(7));
    let w = crate::campaign::create_wave(
        db,
        &wave_name(incident_id),
        Some(now),
        deadline,
        Some(&config.incident.steps),
        actor,
        now,
    )
    .await
    .map_err(|e| match e {
        Error::Invalid(m) => Error::Invalid(format!("incident.steps: {m}")),
        e => e,
    })?;
    Ok(w.id)
}

async fn wave_of<C: ConnectionTrait>(db: &C, inc: &incident::Model) -> Result<Option<String>> {
    let Some(id) = inc.wave_id else {
        return Ok(None);
    };
    Ok(wave::Entity::find_by_id(id).one(db).await?.map(|w| w.name))
}

/// Moves one affected org to `needs_reauth` (when it had consented: an org still waiting for
/// its first consent stays where it is) and into the incident's wave.
pub(super) async fn affected<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    inc: &incident::Model,
    org: &OrgId,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<()> {
    let change = Change::NeedsReauth {
        reason: format!("incident {}: {}", inc.id, inc.reason),
    };
    match state::apply(db, org, change, actor, now).await {
        Ok(_) | Err(Error::InvalidTransition { .. }) => {}
        Err(e) => return Err(e),
    }
    if let Some(name) = wave_of(db, inc).await? {
        crate::campaign::move_orgs(db, std::slice::from_ref(org), &name, actor, now).await?;
    }
    Ok(())
}

/// The secret-rotation path's affected orgs (see the module doc): moves into the open
/// incident's wave every org in `needs_reauth` since an hour before the start that is not in it
/// yet. Returns how many.
pub async fn enroll_refused<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<u64> {
    let Some(inc) = incident::Entity::find()
        .filter(incident::Column::State.eq("open"))
        .one(db)
        .await?
    else {
        return Ok(0);
    };
    let (Some(wave_id), Some(name)) = (inc.wave_id, wave_of(db, &inc).await?) else {
        return Ok(0);
    };
    let since = inc.started_at - chrono::Duration::hours(1);
    let ids: Vec<OrgId> = org::Entity::find()
        .select_only()
        .column(org::Column::Id)
        .filter(org::Column::State.eq(OrgState::NeedsReauth))
        .filter(org::Column::StateChangedAt.gte(since))
        .filter(
            sea_orm::Condition::any()
                .add(org::Column::WaveId.is_null())
                .add(org::Column::WaveId.ne(wave_id)),
        )
        .limit(1_000)
        .into_tuple()
        .all(db)
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    crate::campaign::move_orgs(db, &ids, &name, actor, now).await
}
