//! Notices: every mail reauth sends to a customer or a CSM.
//!
//! - `outbox`: queuing (unique per dedupe key), cancelling, listing, finding stuck ones;
//! - `sender`: claiming due notices with a lease, retries with backoff, giving up;
//! - `deliver`: one notice's link, rendering and sending, and what a bounce changes;
//! - `message`: what a message shows (the template context);
//! - [`render`]: the per-kind templates (`templates/email/<kind>/`), chosen by an exhaustive
//!   match on [`NoticeKind`], so every kind that can be queued can be sent.

mod deliver;
mod message;
mod outbox;
mod render;
mod sender;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

pub use crate::entity::notice::{NoticeKind, NoticeStatus};
pub use outbox::{
    Queued, STUCK_AFTER, cancel_campaign, enqueue, list, recipient, request_fresh_link, stuck,
};
pub(crate) use outbox::{insert_once, row};
pub use render::{EmailContext, render};
pub use sender::{SendReport, Sender, send_due};

use crate::error::{Error, Result};
use crate::types::OrgId;

/// Renders the mail a notice of `kind` would send to an org, without sending it or minting a
/// link (the link is a placeholder).
pub async fn preview<C: ConnectionTrait>(
    db: &C,
    config: &crate::config::Config,
    org_id: &OrgId,
    kind: NoticeKind,
) -> Result<crate::mail::Rendered> {
    let o = crate::registry::find_org(db, org_id).await?;
    let deadline = match o.wave_id {
        Some(w) => crate::entity::wave::Entity::find_by_id(w)
            .one(db)
            .await?
            .and_then(|w| w.deadline),
        None => None,
    }
    .map(message::deadline_text);
    let contact = recipient(db, &o.id).await?;
    let url = if kind.carries_link() {
        format!(
            "{}/r/PREVIEW-LINK-NOT-VALID",
            config.base_url.as_str().trim_end_matches('/')
        )
    } else {
        String::new()
    };
    let expires = Utc::now() + chrono::Duration::from_std(config.links.ttl).unwrap_or_default();
    let ctx = message::context(
        config,
        &o,
        contact.and_then(|c| c.name),
        url,
        expires,
        deadline,
    );
    render(kind, &ctx).map_err(|e| Error::Internal(format!("the {kind} email: {e}")))
}

/// Raises one alert for each stuck notice (see [`stuck`]) that has none open yet: mail the
/// pages said was on its way has not left. None while the breaker holds every notice: its own
/// alert says why.
pub async fn alert_stuck<C: ConnectionTrait>(db: &C, now: DateTime<Utc>) -> Result<usize> {
    if crate::security::incident::breaker::is_tripped(db).await? {
        return Ok(0);
    }
    let stuck = stuck(db, now, 1000).await?;
    if stuck.is_empty() {
        return Ok(0);
    }
    let open: std::collections::HashSet<i64> = crate::entity::alert::Entity::find()
        .filter(crate::entity::alert::Column::Kind.eq("notice.stuck"))
        .filter(crate::entity::alert::Column::ResolvedAt.is_null())
        .all(db)
        .await?
        .into_iter()
        .filter_map(|a| a.details["notice_id"].as_i64())
        .collect();
    let mut raised = 0;
    for n in stuck.iter().filter(|n| !open.contains(&n.id)) {
        crate::alerts::raise(
            db,
            "notice.stuck",
            crate::alerts::Severity::Warning,
            Some(&n.org_id),
            &format!(
                "A {} notice due {} has not been sent (status {}): is a worker running, and can it reach the mail server?",
                n.kind,
                n.scheduled_at.format("%Y-%m-%d %H:%M UTC"),
                n.status
            ),
            serde_json::json!({ "notice_id": n.id, "kind": n.kind }),
            now,
        )
        .await?;
        raised += 1;
    }
    Ok(raised)
}
