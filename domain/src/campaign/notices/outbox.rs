//! The outbox: rows that say "send this kind of mail to this org's contact", unique per dedupe
//! key (for wave steps: org, wave, step and occurrence) so nothing is queued twice.

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::entity::notice::{NoticeKind, NoticeStatus};
use crate::entity::{contact, notice};
use crate::error::Result;
use crate::events::{self, Actor};
use crate::types::OrgId;

/// A queued notice and who it will go to.
#[derive(Debug, Clone)]
pub struct Queued {
    pub notice_id: Option<i64>,
    pub recipient: Option<String>,
    /// False when an identical request was already queued (e.g. the button clicked twice).
    pub new: bool,
}

/// The contact a notice goes to: the primary, or the secondary when the primary bounces.
pub async fn recipient<C: ConnectionTrait>(
    db: &C,
    org_id: &OrgId,
) -> Result<Option<contact::Model>> {
    let contacts = contact::Entity::find()
        .filter(contact::Column::OrgId.eq(org_id))
        .order_by_asc(contact::Column::Id)
        .all(db)
        .await?;
    let usable = |role: &str| {
        contacts
            .iter()
            .find(|c| c.role == role && c.bounce_status != "bouncing")
            .cloned()
    };
    Ok(usable("primary").or_else(|| usable("secondary")))
}

/// A new outbox row (pending), for `enqueue` and the fall-back to another contact.
/// Inserts a notice unless one with its dedupe key exists; how many rows were inserted (0 or 1).
pub(crate) async fn insert_once<C: ConnectionTrait>(
    db: &C,
    row: notice::ActiveModel,
) -> Result<u64> {
    Ok(notice::Entity::insert(row)
        .on_conflict(
            OnConflict::column(notice::Column::DedupeKey)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?)
}

/// A new notice of `kind` for the org, to `to` if given, pending from `now` and outside any
/// wave; the scheduler's rows start from it and add their wave, step and time.
pub(crate) fn row(
    org_id: &OrgId,
    to: Option<&contact::Model>,
    kind: NoticeKind,
    dedupe_key: String,
    now: DateTime<Utc>,
) -> notice::ActiveModel {
    notice::ActiveModel {
        id: NotSet,
        org_id: Set(org_id.clone()),
        contact_id: Set(to.map(|c| c.id)),
        kind: Set(kind),
        wave_id: Set(None),
        step: Set(None),
        occurrence: Set(0),
        dedupe_key: Set(dedupe_key),
        scheduled_at: Set(now),
        status: Set(NoticeStatus::Pending),
        attempts: Set(0),
        lease_owner: Set(None),
        lease_expires_at: Set(None),
        message_id: Set(None),
        link_id: Set(None),
        link_secret_ct: Set(None),
        key_id: Set(None),
        recipient: Set(to.map(|c| c.email.clone())),
        last_error: Set(None),
        sent_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

/// Queues a transactional notice; `dedupe_key` makes repeated requests idempotent.
pub async fn enqueue<C: ConnectionTrait>(
    db: &C,
    org_id: &OrgId,
    kind: NoticeKind,
    dedupe_key: String,
    now: DateTime<Utc>,
) -> Result<Queued> {
    let to = recipient(db, org_id).await?;
    let inserted = insert_once(db, row(org_id, to.as_ref(), kind, dedupe_key.clone(), now)).await?;
    let existing = notice::Entity::find()
        .filter(notice::Column::DedupeKey.eq(dedupe_key))
        .one(db)
        .await?;
    Ok(Queued {
        notice_id: existing.map(|n| n.id),
        recipient: to.map(|c| c.email),
        new: inserted == 1,
    })
}

/// A customer asked for a fresh link from an expired or used link's page. At most one per org
/// per hour, however often the button is pressed; it goes to the contact on file only.
pub async fn request_fresh_link<C: ConnectionTrait>(
    db: &C,
    org_id: &OrgId,
    now: DateTime<Utc>,
) -> Result<Queued> {
    let key = format!("{org_id}|fresh_link|{}", now.format("%Y%m%d%H"));
    let q = enqueue(db, org_id, NoticeKind::FreshLink, key, now).await?;
    if q.new {
        events::record(
            db,
            now,
            &Actor::Customer("link visitor".into()),
            Some(org_id),
            "notice.fresh_link_requested",
            serde_json::json!({ "notice_id": q.notice_id, "recipient": q.recipient }),
        )
        .await?;
    }
    Ok(q)
}

/// Cancels an org's pending campaign notices (it consented, or moved wave).
pub async fn cancel_campaign<C: ConnectionTrait>(
    db: &C,
    org_id: &OrgId,
    now: DateTime<Utc>,
) -> Result<u64> {
    let stops = NoticeKind::ALL.into_iter().filter(|k| k.stops_at_consent());
    let res = notice::Entity::update_many()
        .col_expr(notice::Column::Status, Expr::value(NoticeStatus::Cancelled))
        .col_expr(notice::Column::UpdatedAt, Expr::value(now))
        .filter(notice::Column::OrgId.eq(org_id))
        .filter(notice::Column::Status.eq(NoticeStatus::Pending))
        .filter(notice::Column::Kind.is_in(stops))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// Notices, newest first (never their sealed link secrets).
pub async fn list<C: ConnectionTrait>(
    db: &C,
    org: Option<&OrgId>,
    limit: u64,
) -> Result<Vec<notice::Model>> {
    let mut q = notice::Entity::find();
    if let Some(o) = org {
        q = q.filter(notice::Column::OrgId.eq(o));
    }
    Ok(q.order_by_desc(notice::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// How far past its time a pending notice may be before it counts as stuck.
pub const STUCK_AFTER: chrono::Duration = chrono::Duration::hours(1);

/// Notices that should have gone out long ago and have not: pending past their schedule by
/// [`STUCK_AFTER`] (outside paused waves), or claimed by a sender whose lease ran out as long
/// ago. Oldest first. Nothing sends them: no worker runs, or the sender keeps failing.
pub async fn stuck<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<notice::Model>> {
    let before = now - STUCK_AFTER;
    let paused: Vec<i64> = crate::entity::wave::Entity::find()
        .filter(crate::entity::wave::Column::Paused.eq(true))
        .all(db)
        .await?
        .into_iter()
        .map(|w| w.id)
        .collect();
    let mut q = notice::Entity::find().filter(
        sea_orm::Condition::any()
            .add(
                sea_orm::Condition::all()
                    .add(notice::Column::Status.eq(NoticeStatus::Pending))
                    .add(notice::Column::ScheduledAt.lt(before)),
            )
            .add(
                sea_orm::Condition::all()
                    .add(notice::Column::Status.eq(NoticeStatus::Sending))
                    .add(notice::Column::LeaseExpiresAt.lt(before)),
            ),
    );
    if !paused.is_empty() {
        q = q.filter(
            sea_orm::Condition::any()
                .add(notice::Column::WaveId.is_null())
                .add(notice::Column::WaveId.is_not_in(paused)),
        );
    }
    Ok(q.order_by_asc(notice::Column::ScheduledAt)
        .limit(limit)
        .all(db)
        .await?)
}
