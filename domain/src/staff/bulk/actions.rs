//! The per-org actions bulk jobs (and the org page) apply: each idempotent, each with its event.

use crate::entity::org;
use crate::error::Result;
use crate::events::{self, Actor};
use crate::registry::state::OrgState;
use crate::types::{Email, OrgId};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

/// Queues the link notice for one org, once per `occasion` (a job, or a staff click). Orgs
/// that have consented, or whose notices are paused, get nothing (`Ok(false)`).
pub async fn send_link<C: ConnectionTrait>(
    db: &C,
    org_id: &OrgId,
    occasion: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<bool> {
    let o = crate::registry::find_org(db, org_id).await?;
    if o.notices_paused || !(o.state.awaits_customer() || o.state == OrgState::NeedsAttention) {
        return Ok(false);
    }
    let q = crate::campaign::notices::enqueue(
        db,
        org_id,
        crate::campaign::notices::NoticeKind::Link,
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
    let o = crate::registry::find_org(db, org_id).await?;
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
