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

/// What closing an incident did to its emergency wave.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Ended {
    /// The wave's notices not sent yet (reminders, escalations), cancelled.
    pub cancelled: u64,
    /// Orgs of the wave still waiting for a new consent when the incident closed.
    pub still_to_consent: u64,
}

/// Ends the incident's emergency wave when the incident closes: the emergency is over, so its
/// remaining steps ("your app was compromised" reminders, the escalation to the CSM) must not go
/// out. The wave is paused (the scheduler creates no further step; event `wave.paused`) and its
/// pending notices are cancelled (event `incident.notices_cancelled`). Orgs still in
/// `needs_reauth` stay there, in the wave, with the link they were sent: the registry lists them
/// and staff carry on with the normal campaign (`reauth orgs move` into a campaign wave, or a
/// link from the org page), in the campaign's wording.
pub(super) async fn end_wave<C: ConnectionTrait>(
    db: &C,
    inc: &incident::Model,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Ended> {
    use crate::entity::notice::{self, NoticeStatus};
    use sea_orm::PaginatorTrait as _;
    use sea_orm::sea_query::Expr;
    let (Some(wave_id), Some(name)) = (inc.wave_id, wave_of(db, inc).await?) else {
        return Ok(Ended::default());
    };
    crate::campaign::set_paused(db, &name, true, actor, now).await?;
    let cancelled = notice::Entity::update_many()
        .col_expr(notice::Column::Status, Expr::value(NoticeStatus::Cancelled))
        .col_expr(notice::Column::UpdatedAt, Expr::value(now))
        .filter(notice::Column::WaveId.eq(wave_id))
        .filter(notice::Column::Status.eq(NoticeStatus::Pending))
        .exec(db)
        .await?
        .rows_affected;
    let still_to_consent = org::Entity::find()
        .filter(org::Column::WaveId.eq(wave_id))
        .filter(org::Column::State.eq(OrgState::NeedsReauth))
        .count(db)
        .await?;
    crate::events::record(
        db,
        now,
        actor,
        None,
        "incident.notices_cancelled",
        serde_json::json!({
            "incident": inc.id,
            "wave": name,
            "cancelled": cancelled,
            "still_to_consent": still_to_consent,
        }),
    )
    .await?;
    Ok(Ended {
        cancelled,
        still_to_consent,
    })
}

/// An org whose grant Salesforce just refused, while an incident is open: moves it into the
/// incident's wave at once (answers whether it did), so it is sent the incident's message and
/// never the ordinary "reconnect" notice first — which the notice sender could otherwise send
/// before the incident job's next [`enroll_refused`].
pub async fn enroll_if_open<C: ConnectionTrait>(
    db: &C,
    org: &OrgId,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<bool> {
    let Some(inc) = incident::Entity::find()
        .filter(incident::Column::State.eq("open"))
        .one(db)
        .await?
    else {
        return Ok(false);
    };
    let Some(name) = wave_of(db, &inc).await? else {
        return Ok(false);
    };
    crate::campaign::move_orgs(db, std::slice::from_ref(org), &name, actor, now).await?;
    Ok(true)
}
