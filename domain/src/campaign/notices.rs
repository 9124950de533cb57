//! The notice outbox (the shared piece the campaign builds on): rows that say "send this kind of
//! mail to this org's contact", unique per (org, wave, step, occurrence) so nothing is scheduled
//! twice. The sender that renders and delivers them belongs to the campaign.

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::entity::{contact, notice};
use crate::error::Result;
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

/// Queues a transactional notice; `dedupe_key` makes repeated requests idempotent.
pub async fn enqueue<C: ConnectionTrait>(
    db: &C,
    org_id: &OrgId,
    kind: &str,
    dedupe_key: String,
    now: DateTime<Utc>,
) -> Result<Queued> {
    let to = recipient(db, org_id).await?;
    let row = notice::ActiveModel {
        id: NotSet,
        org_id: Set(org_id.clone()),
        contact_id: Set(to.as_ref().map(|c| c.id)),
        kind: Set(kind.to_owned()),
        wave_id: Set(None),
        step: Set(None),
        occurrence: Set(0),
        dedupe_key: Set(dedupe_key.clone()),
        scheduled_at: Set(now),
        status: Set("pending".into()),
        attempts: Set(0),
        lease_owner: Set(None),
        lease_expires_at: Set(None),
        message_id: Set(None),
        link_id: Set(None),
        link_secret_ct: Set(None),
        key_id: Set(None),
        recipient: Set(to.as_ref().map(|c| c.email.clone())),
        last_error: Set(None),
        sent_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let inserted = notice::Entity::insert(row)
        .on_conflict(
            OnConflict::column(notice::Column::DedupeKey)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
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
    let q = enqueue(db, org_id, "fresh_link", key, now).await?;
    if q.new {
        let id =
            crate::types::OrgId::parse(org_id).map_err(|e| crate::Error::Invalid(e.to_string()))?;
        crate::events::record(
            db,
            now,
            &crate::events::Actor::Customer("link visitor".into()),
            Some(&id),
            "notice.fresh_link_requested",
            serde_json::json!({ "notice_id": q.notice_id, "recipient": q.recipient }),
        )
        .await?;
    }
    Ok(q)
}

/// What one sending pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SendReport {
    pub sent: u32,
    /// Notices no longer needed at send time (the org consented, or its notices are paused).
    pub cancelled: u32,
    pub retried: u32,
    pub failed: u32,
}

/// Kinds this sender renders today (the campaign adds the wave steps).
const SENDABLE: &[&str] = &[
    "fresh_link",
    "reauth_needed",
    "announce",
    "remind",
    "final",
    "escalate",
];
/// How long a claimed notice stays ours before another sender may take it over.
const LEASE: chrono::Duration = chrono::Duration::minutes(5);
/// Attempts before a transiently failing notice is given up and alerted.
const MAX_ATTEMPTS: i32 = 8;

/// Services a sending pass needs.
pub struct Sender<'a> {
    pub mailer: &'a crate::mail::Mailer,
    pub sealer: &'a crate::security::crypto::Sealer,
    pub config: &'a crate::config::Config,
    /// Identifies this process in leases.
    pub owner: &'a str,
}

/// Sends due notices. A notice is claimed with a lease first, its link is minted and sealed on
/// the row before the first attempt (so every retry carries the same link), and its secret is
/// dropped once the mail is accepted.
///
/// Remaining window: if this process dies after the mail server accepted a message and before the
/// status write, the lease expires and the notice is sent again with the same Message-ID and link.
pub async fn send_due<C: ConnectionTrait + sea_orm::TransactionTrait>(
    db: &C,
    s: &Sender<'_>,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<SendReport> {
    use sea_orm::QuerySelect;
    use sea_orm::sea_query::ExprTrait as _;
    let due = notice::Entity::find()
        .filter(notice::Column::Kind.is_in(SENDABLE.iter().copied()))
        .filter(
            sea_orm::Condition::any()
                .add(
                    notice::Column::Status
                        .eq("pending")
                        .and(notice::Column::ScheduledAt.lte(now)),
                )
                .add(
                    notice::Column::Status
                        .eq("sending")
                        .and(notice::Column::LeaseExpiresAt.lt(now)),
                ),
        )
        .order_by_asc(notice::Column::ScheduledAt)
        .limit(limit)
        .all(db)
        .await?;
    let mut report = SendReport::default();
    let paused: std::collections::HashSet<i64> = crate::entity::wave::Entity::find()
        .filter(crate::entity::wave::Column::Paused.eq(true))
        .all(db)
        .await?
        .into_iter()
        .map(|w| w.id)
        .collect();
    // Notices are independent (each is claimed on its own), so several go out at once: one SMTP
    // connection carries only about 20 messages a second (lettre leaves Nagle on), and the pool
    // holds several.
    use futures::StreamExt as _;
    let outcomes: Vec<Result<Outcome>> = futures::stream::iter(
        due.into_iter()
            .filter(|n| !n.wave_id.is_some_and(|w| paused.contains(&w))),
    )
    .map(|n| process(db, s, n, now))
    .buffer_unordered(SEND_CONCURRENCY)
    .collect()
    .await;
    for o in outcomes {
        match o? {
            Outcome::Skipped => {}
            Outcome::Sent => report.sent += 1,
            Outcome::Cancelled => report.cancelled += 1,
            Outcome::Retried => report.retried += 1,
            Outcome::Failed => report.failed += 1,
        }
    }
    Ok(report)
}

/// How many notices are sent at once.
const SEND_CONCURRENCY: usize = 8;

enum Outcome {
    Skipped,
    Sent,
    Cancelled,
    Retried,
    Failed,
}

/// Claims and sends one notice, and records how it went.
async fn process<C: ConnectionTrait + sea_orm::TransactionTrait>(
    db: &C,
    s: &Sender<'_>,
    n: notice::Model,
    now: DateTime<Utc>,
) -> Result<Outcome> {
    if !claim(db, &n, s.owner, now).await? {
        return Ok(Outcome::Skipped);
    }
    Ok(match send_one(db, s, &n, now).await {
        Ok(()) => Outcome::Sent,
        Err(Failure::NotNeeded(why)) => {
            release(db, n.id, s.owner, "cancelled", None, &why, now).await?;
            Outcome::Cancelled
        }
        Err(Failure::Retry(e)) if n.attempts + 1 < MAX_ATTEMPTS => {
            let backoff = chrono::Duration::seconds(30 * 2i64.pow(n.attempts.clamp(0, 10) as u32));
            release(db, n.id, s.owner, "pending", Some(now + backoff), &e, now).await?;
            Outcome::Retried
        }
        Err(Failure::Retry(e) | Failure::GiveUp(e)) => {
            release(db, n.id, s.owner, "failed", None, &e, now).await?;
            let org = n.org_id.clone();
            crate::events::record(
                db,
                now,
                &crate::events::Actor::System,
                Some(&org),
                "notice.failed",
                serde_json::json!({ "notice_id": n.id, "error": e }),
            )
            .await?;
            Outcome::Failed
        }
    })
}

enum Failure {
    Retry(String),
    GiveUp(String),
    NotNeeded(String),
}

async fn claim<C: ConnectionTrait>(
    db: &C,
    n: &notice::Model,
    owner: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    use sea_orm::sea_query::{Expr, ExprTrait};
    let res = notice::Entity::update_many()
        .col_expr(notice::Column::Status, Expr::value("sending"))
        .col_expr(notice::Column::LeaseOwner, Expr::value(owner))
        .col_expr(notice::Column::LeaseExpiresAt, Expr::value(now + LEASE))
        .col_expr(
            notice::Column::Attempts,
            Expr::col(notice::Column::Attempts).add(1),
        )
        .col_expr(notice::Column::UpdatedAt, Expr::value(now))
        .filter(notice::Column::Id.eq(n.id))
        .filter(notice::Column::Status.eq(n.status.clone()))
        .filter(notice::Column::Attempts.eq(n.attempts))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

async fn release<C: ConnectionTrait>(
    db: &C,
    id: i64,
    owner: &str,
    status: &str,
    retry_at: Option<DateTime<Utc>>,
    error: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    use sea_orm::sea_query::Expr;
    let mut q = notice::Entity::update_many()
        .col_expr(notice::Column::Status, Expr::value(status))
        .col_expr(
            notice::Column::LeaseOwner,
            Expr::value(Option::<String>::None),
        )
        .col_expr(notice::Column::LastError, Expr::value(error))
        .col_expr(notice::Column::UpdatedAt, Expr::value(now));
    if let Some(at) = retry_at {
        q = q.col_expr(notice::Column::ScheduledAt, Expr::value(at));
    }
    q.filter(notice::Column::Id.eq(id))
        .filter(notice::Column::LeaseOwner.eq(owner))
        .exec(db)
        .await?;
    Ok(())
}

async fn send_one<C: ConnectionTrait + sea_orm::TransactionTrait>(
    db: &C,
    s: &Sender<'_>,
    n: &notice::Model,
    now: DateTime<Utc>,
) -> std::result::Result<(), Failure> {
    use sea_orm::sea_query::Expr;
    let db_err = |e: crate::Error| Failure::Retry(e.to_string());
    let org_id = n.org_id.clone();
    let org = crate::entity::org::Entity::find_by_id(n.org_id.clone())
        .one(db)
        .await
        .map_err(|e| Failure::Retry(e.to_string()))?;
    let Some(org) = org else {
        return Err(Failure::GiveUp("the org no longer exists".into()));
    };
    let wave_kind = crate::campaign::WAVE_KINDS.contains(&n.kind.as_str());
    // Jobs re-read state: an org that has acted (or whose notices are paused) gets nothing more.
    if wave_kind && (!org.state.awaits_customer() || org.notices_paused) {
        return Err(Failure::NotNeeded(format!(
            "org is {} (notices paused: {})",
            org.state, org.notices_paused
        )));
    }
    let deadline = match n.wave_id {
        Some(w) => crate::entity::wave::Entity::find_by_id(w)
            .one(db)
            .await
            .map_err(|e| Failure::Retry(e.to_string()))?
            .and_then(|w| w.deadline),
        None => None,
    };
    let deadline = deadline.map(|d| d.format("%B %-d, %Y %H:%M UTC").to_string());
    if let Some((subject, text)) =
        plain_wording(&n.kind, &org, &s.config.partner, deadline.as_deref())
    {
        return send_plain(db, s, n, &org, subject, text, now).await;
    }
    let contact = match n.contact_id {
        Some(id) => contact::Entity::find_by_id(id)
            .one(db)
            .await
            .map_err(|e| Failure::Retry(e.to_string()))?,
        None => None,
    };
    let Some(contact) = contact else {
        return Err(Failure::GiveUp("no contact on file".into()));
    };

    // The link: minted once, sealed on the row, reused by every retry.
    let aad = crate::security::keys::notice_aad(n.id);
    let (secret, expires) = match (&n.link_secret_ct, &n.key_id, n.link_id) {
        (Some(ct), Some(key), Some(link_id)) => {
            let secret = s
                .sealer
                .open_str(key, ct, &aad)
                .map_err(|e| Failure::GiveUp(e.to_string()))?;
            let link = crate::entity::link::Entity::find_by_id(link_id)
                .one(db)
                .await
                .map_err(|e| Failure::Retry(e.to_string()))?;
            (
                crate::reconsent::links::LinkSecret::from_secret(secret),
                link.map(|l| l.expires_at).unwrap_or(now),
            )
        }
        _ => {
            let email = crate::types::Email::parse(&contact.email)
                .map_err(|e| Failure::GiveUp(e.to_string()))?;
            let new = crate::reconsent::links::NewLink {
                org_id: &org_id,
                contact: Some(&email),
                ttl: s.config.links.ttl,
                notice_id: Some(n.id),
            };
            let (secret, link) =
                crate::reconsent::links::create(db, new, &crate::events::Actor::System, now)
                    .await
                    .map_err(db_err)?;
            let sealed = s.sealer.seal(secret.expose().as_bytes(), &aad);
            notice::Entity::update_many()
                .col_expr(notice::Column::LinkId, Expr::value(link.id))
                .col_expr(notice::Column::LinkSecretCt, Expr::value(sealed.bytes))
                .col_expr(notice::Column::KeyId, Expr::value(sealed.key_id))
                .filter(notice::Column::Id.eq(n.id))
                .filter(notice::Column::LeaseOwner.eq(s.owner))
                .exec(db)
                .await
                .map_err(|e| Failure::Retry(e.to_string()))?;
            (secret, link.expires_at)
        }
    };
    let url = secret.url(&s.config.base_url);
    let p = &s.config.partner;
    let ranges: Vec<String> = p.egress_ranges.iter().map(ToString::to_string).collect();
    let expires = expires.format("%B %-d, %Y").to_string();
    let Some((subject, intro, outro)) =
        crate::mail::wording(&n.kind, &org.name, &p.name, deadline.as_deref())
    else {
        return Err(Failure::GiveUp(format!(
            "no email for notices of kind {}",
            n.kind
        )));
    };
    let rendered = crate::mail::render_link_notice(
        &crate::mail::LinkNotice {
            contact_name: contact.name.as_deref(),
            org_name: &org.name,
            org_id: &org.id,
            partner: &p.name,
            support_email: &p.support_email,
            link_url: &url,
            expires,
            egress_ranges: ranges,
            intro,
            outro,
        },
        subject,
    )
    .map_err(|e| Failure::GiveUp(e.to_string()))?;
    let host = s.config.base_url.host_str().unwrap_or("reauth.local");
    let message_id = format!("<notice-{}@{host}>", n.id);
    let msg = crate::mail::build(&s.config.mail.from, &contact.email, &message_id, rendered)
        .map_err(Failure::GiveUp)?;
    match s.mailer.send(msg).await {
        Ok(()) => {}
        Err(crate::mail::SendError::Transient(e)) => return Err(Failure::Retry(e)),
        Err(crate::mail::SendError::Permanent(e)) => {
            contact::Entity::update_many()
                .col_expr(contact::Column::BounceStatus, Expr::value("bouncing"))
                .col_expr(contact::Column::BouncedAt, Expr::value(now))
                .filter(contact::Column::Id.eq(contact.id))
                .exec(db)
                .await
                .map_err(|e| Failure::Retry(e.to_string()))?;
            fall_back(db, n, &contact, &e, now).await.map_err(db_err)?;
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
        .await
        .map_err(|e| Failure::Retry(e.to_string()))?;
    if wave_kind {
        crate::registry::state::apply(
            db,
            &org_id,
            crate::registry::state::Change::Advance(crate::registry::state::OrgState::Notified),
            &crate::events::Actor::System,
            now,
        )
        .await
        .map_err(db_err)?;
    }
    crate::events::record(db, now, &crate::events::Actor::System, Some(&org_id), "notice.sent", serde_json::json!({ "notice_id": n.id, "kind": n.kind, "to": contact.email, "message_id": message_id }))
        .await
        .map_err(db_err)?;
    Ok(())
}

/// Cancels an org's pending campaign notices (it consented, or moved wave).
pub async fn cancel_campaign<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    now: DateTime<Utc>,
) -> Result<u64> {
    use sea_orm::sea_query::Expr;
    let res = notice::Entity::update_many()
        .col_expr(notice::Column::Status, Expr::value("cancelled"))
        .col_expr(notice::Column::UpdatedAt, Expr::value(now))
        .filter(notice::Column::OrgId.eq(org_id))
        .filter(notice::Column::Status.eq("pending"))
        .filter(
            notice::Column::Kind.is_in(
                crate::campaign::WAVE_KINDS
                    .iter()
                    .copied()
                    .chain(["reauth_needed"]),
            ),
        )
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// Subject and text of the notices that carry no link: escalations (to the CSM) and
/// confirmations (to the customer).
pub fn plain_wording(
    kind: &str,
    org: &crate::entity::org::Model,
    p: &crate::config::PartnerConfig,
    deadline: Option<&str>,
) -> Option<(String, String)> {
    let partner = &p.name;
    match kind {
        "escalate" => {
            let by = deadline
                .map(|d| format!(" (deadline {d})"))
                .unwrap_or_default();
            Some((
                format!("Escalation: {} has not reconnected{by}", org.name),
                format!(
                    "{} ({}) has not completed the re-consent{by}. Its state is {}.\n\nSee it with: reauth orgs show {}\n",
                    org.name, org.id, org.state, org.id
                ),
            ))
        }
        "confirmation" => Some((
            format!("{} is reconnected to {partner}", org.name),
            format!(
                "Thank you. {partner} now uses the new, more secure connection to {} ({}). There is nothing more to do: we keep the connection alive automatically and will write only if Salesforce ever asks for a new approval.\n\n— {partner} ({})\n",
                org.name, org.id, p.support_email
            ),
        )),
        _ => None,
    }
}

/// A message without a link: escalations (to the org's customer-success manager, who is not
/// the customer) and confirmations.
async fn send_plain<C: ConnectionTrait>(
    db: &C,
    s: &Sender<'_>,
    n: &notice::Model,
    org: &crate::entity::org::Model,
    subject: String,
    text: String,
    now: DateTime<Utc>,
) -> std::result::Result<(), Failure> {
    use sea_orm::sea_query::Expr;
    let Some(to) = n.recipient.clone() else {
        return Err(Failure::GiveUp("no recipient".into()));
    };
    let html = plain_html(&text);
    let host = s.config.base_url.host_str().unwrap_or("reauth.local");
    let message_id = format!("<notice-{}@{host}>", n.id);
    let msg = crate::mail::build(
        &s.config.mail.from,
        &to,
        &message_id,
        crate::mail::Rendered {
            subject,
            text,
            html,
        },
    )
    .map_err(Failure::GiveUp)?;
    match s.mailer.send(msg).await {
        Ok(()) => {}
        Err(crate::mail::SendError::Transient(e)) => return Err(Failure::Retry(e)),
        Err(crate::mail::SendError::Permanent(e)) => return Err(Failure::GiveUp(e)),
    }
    notice::Entity::update_many()
        .col_expr(notice::Column::Status, Expr::value(s.mailer.sent_status()))
        .col_expr(notice::Column::SentAt, Expr::value(now))
        .col_expr(notice::Column::MessageId, Expr::value(message_id.clone()))
        .col_expr(
            notice::Column::LeaseOwner,
            Expr::value(Option::<String>::None),
        )
        .filter(notice::Column::Id.eq(n.id))
        .exec(db)
        .await
        .map_err(|e| Failure::Retry(e.to_string()))?;
    let org_id = org.id.clone();
    crate::events::record(db, now, &crate::events::Actor::System, Some(&org_id), "notice.sent", serde_json::json!({ "notice_id": n.id, "kind": n.kind, "to": to, "message_id": message_id }))
        .await
        .map_err(|e| Failure::Retry(e.to_string()))?;
    Ok(())
}

/// After a permanent refusal: the same notice for the next usable contact (the secondary when
/// the primary bounces), an event and an alert.
async fn fall_back<C: ConnectionTrait>(
    db: &C,
    n: &notice::Model,
    bounced: &contact::Model,
    error: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let next = recipient(db, &n.org_id)
        .await?
        .filter(|c| c.id != bounced.id);
    let org = n.org_id.clone();
    if let Some(c) = &next {
        let row = notice::ActiveModel {
            id: NotSet,
            org_id: Set(n.org_id.clone()),
            contact_id: Set(Some(c.id)),
            kind: Set(n.kind.clone()),
            wave_id: Set(n.wave_id),
            step: Set(n.step.clone()),
            occurrence: Set(n.occurrence),
            dedupe_key: Set(format!("{}|to:{}", n.dedupe_key, c.id)),
            scheduled_at: Set(now),
            status: Set("pending".into()),
            attempts: Set(0),
            lease_owner: Set(None),
            lease_expires_at: Set(None),
            message_id: Set(None),
            link_id: Set(None),
            link_secret_ct: Set(None),
            key_id: Set(None),
            recipient: Set(Some(c.email.clone())),
            last_error: Set(None),
            sent_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        };
        notice::Entity::insert(row)
            .on_conflict(
                OnConflict::column(notice::Column::DedupeKey)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    let details = serde_json::json!({ "notice_id": n.id, "bounced": bounced.email, "error": error, "fallback": next.as_ref().map(|c| c.email.clone()) });
    crate::events::record(
        db,
        now,
        &crate::events::Actor::System,
        Some(&org),
        "notice.bounced",
        details.clone(),
    )
    .await?;
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

/// Notices, newest first (never their sealed link secrets).
pub async fn list<C: ConnectionTrait>(
    db: &C,
    org: Option<&crate::types::OrgId>,
    limit: u64,
) -> Result<Vec<notice::Model>> {
    use sea_orm::QuerySelect;
    let mut q = notice::Entity::find();
    if let Some(o) = org {
        q = q.filter(notice::Column::OrgId.eq(o.as_str()));
    }
    Ok(q.order_by_desc(notice::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// Renders the mail a step would send to an org, without sending it or minting a link (the
/// link is a placeholder).
pub async fn preview<C: ConnectionTrait>(
    db: &C,
    config: &crate::config::Config,
    org_id: &crate::types::OrgId,
    kind: &str,
) -> Result<crate::mail::Rendered> {
    let org = crate::entity::org::Entity::find_by_id(org_id.clone())
        .one(db)
        .await?
        .ok_or_else(|| crate::Error::UnknownOrg(org_id.clone()))?;
    let deadline = match org.wave_id {
        Some(w) => crate::entity::wave::Entity::find_by_id(w)
            .one(db)
            .await?
            .and_then(|w| w.deadline),
        None => None,
    }
    .map(|d| d.format("%B %-d, %Y %H:%M UTC").to_string());
    let p = &config.partner;
    if let Some((subject, text)) = plain_wording(kind, &org, p, deadline.as_deref()) {
        let html = plain_html(&text);
        return Ok(crate::mail::Rendered {
            subject,
            text,
            html,
        });
    }
    let Some((subject, intro, outro)) =
        crate::mail::wording(kind, &org.name, &p.name, deadline.as_deref())
    else {
        return Err(crate::Error::Invalid(format!(
            "no email for `{kind}` (expected announce, remind, final, escalate, confirmation, fresh_link or reauth_needed)"
        )));
    };
    let contact = recipient(db, &org.id).await?;
    let url = format!(
        "{}/r/PREVIEW-LINK-NOT-VALID",
        config.base_url.as_str().trim_end_matches('/')
    );
    let expires = (chrono::Utc::now()
        + chrono::Duration::from_std(config.links.ttl).unwrap_or_default())
    .format("%B %-d, %Y")
    .to_string();
    crate::mail::render_link_notice(
        &crate::mail::LinkNotice {
            contact_name: contact.as_ref().and_then(|c| c.name.as_deref()),
            org_name: &org.name,
            org_id: &org.id,
            partner: &p.name,
            support_email: &p.support_email,
            link_url: &url,
            expires,
            egress_ranges: p.egress_ranges.iter().map(ToString::to_string).collect(),
            intro,
            outro,
        },
        subject,
    )
    .map_err(|e| crate::Error::Invalid(e.to_string()))
}

/// The HTML part of a plain message: the text, escaped, with line breaks.
fn plain_html(text: &str) -> String {
    format!(
        "<p>{}</p>",
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('\n', "<br>")
    )
}
