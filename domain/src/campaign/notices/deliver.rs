//! Delivering one claimed notice: its link (minted once and sealed on the row, so every retry
//! carries the same link), rendering from its kind's templates, sending through lettre, and what
//! a permanent refusal (a bounce) changes.
//!
//! Remaining window: if this process dies after the mail server accepted a message and before the
//! status write, the lease expires and the notice is sent again with the same Message-ID and link.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionTrait};

use super::message::{context, deadline_text};
use super::outbox::{insert_once, recipient, row};
use super::render::render;
use super::sender::{Failure, Sender};
use crate::entity::notice::NoticeKind;
use crate::entity::{contact, link, notice, org, wave};
use crate::error::Result;
use crate::events::{self, Actor};
use crate::reconsent::links::{self, LinkSecret, NewLink};
use crate::registry::state::{self, Change, OrgState};

/// The link a notice carries: minted on its first attempt and sealed on the row, opened again by
/// every retry (so all of them carry the same link).
async fn link_of<C: ConnectionTrait>(
    db: &C,
    s: &Sender<'_>,
    n: &notice::Model,
    contact: Option<&contact::Model>,
    now: DateTime<Utc>,
) -> std::result::Result<(LinkSecret, DateTime<Utc>), Failure> {
    let aad = crate::security::keys::notice_aad(n.id);
    if let (Some(ct), Some(key), Some(link_id)) = (&n.link_secret_ct, &n.key_id, n.link_id) {
        let secret = s
            .sealer
            .open_str(key, ct, &aad)
            .map_err(|e| Failure::GiveUp(e.to_string()))?;
        let l = link::Entity::find_by_id(link_id).one(db).await?;
        return Ok((
            LinkSecret::from_secret(secret),
            l.map(|l| l.expires_at).unwrap_or(now),
        ));
    }
    let email = contact
        .map(|c| crate::types::Email::parse(&c.email))
        .transpose()
        .map_err(|e| Failure::GiveUp(e.to_string()))?;
    let new = NewLink {
        org_id: &n.org_id,
        contact: email.as_ref(),
        ttl: s.config.links.ttl,
        notice_id: Some(n.id),
    };
    let (secret, l) = links::create(db, new, &Actor::System, now).await?;
    let sealed = s.sealer.seal(secret.expose().as_bytes(), &aad);
    notice::Entity::update_many()
        .col_expr(notice::Column::LinkId, Expr::value(l.id))
        .col_expr(notice::Column::LinkSecretCt, Expr::value(sealed.bytes))
        .col_expr(notice::Column::KeyId, Expr::value(sealed.key_id))
        .filter(notice::Column::Id.eq(n.id))
        .filter(notice::Column::LeaseOwner.eq(s.owner))
        .exec(db)
        .await?;
    Ok((secret, l.expires_at))
}

pub(super) async fn send_one<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    s: &Sender<'_>,
    n: &notice::Model,
    now: DateTime<Utc>,
) -> std::result::Result<(), Failure> {
    let Some(o) = org::Entity::find_by_id(n.org_id.clone()).one(db).await? else {
        return Err(Failure::GiveUp("the org no longer exists".into()));
    };
    // Jobs re-read state: an org that has acted (or whose notices are paused) gets nothing more.
    if n.kind.is_wave_step() && (!o.state.awaits_customer() || o.notices_paused) {
        return Err(Failure::NotNeeded(format!(
            "org is {} (notices paused: {})",
            o.state, o.notices_paused
        )));
    }
    let deadline = match n.wave_id {
        Some(w) => wave::Entity::find_by_id(w)
            .one(db)
            .await?
            .and_then(|w| w.deadline),
        None => None,
    }
    .map(deadline_text);
    // The customer's contact (escalations go to the CSM, whose address is on the notice).
    let contact = match (n.kind, n.contact_id) {
        (NoticeKind::Escalate, _) | (_, None) => None,
        (_, Some(id)) => contact::Entity::find_by_id(id).one(db).await?,
    };
    let Some(to) = contact
        .as_ref()
        .map(|c| c.email.clone())
        .or_else(|| n.recipient.clone())
    else {
        return Err(Failure::GiveUp("no recipient on file".into()));
    };
    let (url, expires) = if n.kind.carries_link() {
        let (secret, expires) = link_of(db, s, n, contact.as_ref(), now).await?;
        (secret.url(&s.config.base_url), expires)
    } else {
        (String::new(), now)
    };
    let ctx = context(
        s.config,
        &o,
        contact.as_ref().and_then(|c| c.name.clone()),
        url,
        expires,
        deadline,
    );
    let rendered = render(n.kind, &ctx).map_err(|e| Failure::GiveUp(e.to_string()))?;
    let host = s.config.base_url.host_str().unwrap_or("reauth.local");
    let message_id = format!("<notice-{}@{host}>", n.id);
    let msg = crate::mail::build(&s.config.mail.from, &to, &message_id, rendered)
        .map_err(Failure::GiveUp)?;
    match s.mailer.send(msg).await {
        Ok(()) => {}
        Err(crate::mail::SendError::Transient(e)) => return Err(Failure::Retry(e)),
        Err(crate::mail::SendError::Permanent(e)) => {
            if let Some(c) = &contact {
                bounced(db, n, c, &e, now).await?;
            }
            return Err(Failure::GiveUp(e));
        }
    }
    notice::Entity::update_many()
        .col_expr(notice::Column::Status, Expr::value(s.mailer.sent_status()))
        .col_expr(notice::Column::SentAt, Expr::value(now))
        .col_expr(notice::Column::MessageId, Expr::value(message_id.clone()))
        .col_expr(
            notice::Column::LinkSecretCt,
            Expr::value(Option::<Vec<u8>>::None),
        )
        .col_expr(
            notice::Column::LeaseOwner,
            Expr::value(Option::<String>::None),
        )
        .col_expr(notice::Column::UpdatedAt, Expr::value(now))
        .filter(notice::Column::Id.eq(n.id))
        .exec(db)
        .await?;
    if matches!(
        n.kind,
        NoticeKind::Announce | NoticeKind::Remind | NoticeKind::Final
    ) {
        state::apply(
            db,
            &n.org_id,
            Change::Advance(OrgState::Notified),
            &Actor::System,
            now,
        )
        .await?;
    }
    let details = serde_json::json!({ "notice_id": n.id, "kind": n.kind, "to": to, "message_id": message_id, "delivered": s.mailer.delivers() });
    events::record_system(db, now, &n.org_id, "notice.sent", details).await?;
    Ok(())
}

/// A permanent refusal: the contact is marked bouncing, the same notice is queued for the next
/// usable contact (the secondary when the primary bounces), and an event and an alert say so.
async fn bounced<C: ConnectionTrait>(
    db: &C,
    n: &notice::Model,
    bounced: &contact::Model,
    error: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    contact::Entity::update_many()
        .col_expr(contact::Column::BounceStatus, Expr::value("bouncing"))
        .col_expr(contact::Column::BouncedAt, Expr::value(now))
        .filter(contact::Column::Id.eq(bounced.id))
        .exec(db)
        .await?;
    let next = recipient(db, &n.org_id)
        .await?
        .filter(|c| c.id != bounced.id);
    if let Some(c) = &next {
        let mut again = row(
            &n.org_id,
            Some(c),
            n.kind,
            format!("{}|to:{}", n.dedupe_key, c.id),
            now,
        );
        again.wave_id = sea_orm::ActiveValue::Set(n.wave_id);
        again.step = sea_orm::ActiveValue::Set(n.step.clone());
        again.occurrence = sea_orm::ActiveValue::Set(n.occurrence);
        insert_once(db, again).await?;
    }
    let details = serde_json::json!({ "notice_id": n.id, "bounced": bounced.email, "error": error, "fallback": next.as_ref().map(|c| c.email.clone()) });
    events::record_system(db, now, &n.org_id, "notice.bounced", details.clone()).await?;
    let message = match &next {
        Some(c) => format!(
            "{} bounced; the notice goes to {} instead",
            bounced.email, c.email
        ),
        None => format!("{} bounced and the org has no other contact", bounced.email),
    };
    crate::alerts::raise(
        db,
        "contact.bounced",
        crate::alerts::Severity::Warning,
        Some(&n.org_id),
        &message,
        details,
        now,
    )
    .await
}
