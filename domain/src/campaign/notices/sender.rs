//! The sender: claims due notices with a lease, renders each from its kind's templates (minting
//! its link once and sealing it on the row, so every retry carries the same link), sends it
//! through lettre, and records how it went. Permanent refusals fall back to the next contact;
//! transient ones are retried with backoff.
//!
//! Remaining window: if this process dies after the mail server accepted a message and before the
//! status write, the lease expires and the notice is sent again with the same Message-ID and link.

use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};

use super::outbox::{recipient, row};
use super::render::{EmailContext, render};
use crate::entity::notice::{NoticeKind, NoticeStatus};
use crate::entity::{contact, link, notice, org, wave};
use crate::error::Result;
use crate::events::{self, Actor};
use crate::reconsent::links::{self, LinkSecret, NewLink};
use crate::registry::state::{self, Change, OrgState};

/// How long a claimed notice stays ours before another sender may take it over.
const LEASE: chrono::Duration = chrono::Duration::minutes(5);
/// Attempts before a transiently failing notice is given up and alerted.
const MAX_ATTEMPTS: i32 = 8;
/// How many notices are sent at once: one SMTP connection carries only about 20 messages a
/// second (lettre leaves Nagle on), and the pool holds several.
const SEND_CONCURRENCY: usize = 8;

/// Services a sending pass needs.
pub struct Sender<'a> {
    pub mailer: &'a crate::mail::Mailer,
    pub sealer: &'a crate::security::crypto::Sealer,
    pub config: &'a crate::config::Config,
    /// Identifies this process in leases.
    pub owner: &'a str,
}

/// What one sending pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SendReport {
    pub sent: u32,
    /// Notices no longer needed at send time (the org consented, or its notices are paused).
    pub cancelled: u32,
    pub retried: u32,
    pub failed: u32,
    /// Whether nothing was sent because the breaker is tripped (every notice waits).
    pub held: bool,
}

/// Sends due notices, of every kind; none while the breaker is tripped.
pub async fn send_due<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    s: &Sender<'_>,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<SendReport> {
    if crate::security::incident::breaker::check(db, &s.config.incident, now).await? {
        return Ok(SendReport {
            held: true,
            ..SendReport::default()
        });
    }
    let due = notice::Entity::find()
        .filter(
            Condition::any()
                .add(
                    notice::Column::Status
                        .eq(NoticeStatus::Pending)
                        .and(notice::Column::ScheduledAt.lte(now)),
                )
                .add(
                    notice::Column::Status
                        .eq(NoticeStatus::Sending)
                        .and(notice::Column::LeaseExpiresAt.lt(now)),
                ),
        )
        .order_by_asc(notice::Column::ScheduledAt)
        .limit(limit)
        .all(db)
        .await?;
    let paused: std::collections::HashSet<i64> = wave::Entity::find()
        .filter(wave::Column::Paused.eq(true))
        .all(db)
        .await?
        .into_iter()
        .map(|w| w.id)
        .collect();
    let outcomes: Vec<Result<Outcome>> = futures::stream::iter(
        due.into_iter()
            .filter(|n| !n.wave_id.is_some_and(|w| paused.contains(&w))),
    )
    .map(|n| process(db, s, n, now))
    .buffer_unordered(SEND_CONCURRENCY)
    .collect()
    .await;
    let mut report = SendReport::default();
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

enum Outcome {
    Skipped,
    Sent,
    Cancelled,
    Retried,
    Failed,
}

enum Failure {
    Retry(String),
    GiveUp(String),
    NotNeeded(String),
}

impl From<sea_orm::DbErr> for Failure {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Retry(e.to_string())
    }
}

impl From<crate::Error> for Failure {
    fn from(e: crate::Error) -> Self {
        Self::Retry(e.to_string())
    }
}

/// Claims and sends one notice, and records how it went.
#[tracing::instrument(skip_all, fields(notice_id = n.id, org_id = %n.org_id))]
async fn process<C: ConnectionTrait + TransactionTrait>(
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
            release(db, n.id, s.owner, NoticeStatus::Cancelled, None, &why, now).await?;
            Outcome::Cancelled
        }
        Err(Failure::Retry(e)) if n.attempts + 1 < MAX_ATTEMPTS => {
            let backoff = chrono::Duration::seconds(30 * 2i64.pow(n.attempts.clamp(0, 10) as u32));
            let at = Some(now + backoff);
            release(db, n.id, s.owner, NoticeStatus::Pending, at, &e, now).await?;
            Outcome::Retried
        }
        Err(Failure::Retry(e) | Failure::GiveUp(e)) => {
            release(db, n.id, s.owner, NoticeStatus::Failed, None, &e, now).await?;
            events::record(
                db,
                now,
                &Actor::System,
                Some(&n.org_id),
                "notice.failed",
                serde_json::json!({ "notice_id": n.id, "kind": n.kind, "error": e }),
            )
            .await?;
            Outcome::Failed
        }
    })
}

async fn claim<C: ConnectionTrait>(
    db: &C,
    n: &notice::Model,
    owner: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let res = notice::Entity::update_many()
        .col_expr(notice::Column::Status, Expr::value(NoticeStatus::Sending))
        .col_expr(notice::Column::LeaseOwner, Expr::value(owner))
        .col_expr(notice::Column::LeaseExpiresAt, Expr::value(now + LEASE))
        .col_expr(
            notice::Column::Attempts,
            Expr::col(notice::Column::Attempts).add(1),
        )
        .col_expr(notice::Column::UpdatedAt, Expr::value(now))
        .filter(notice::Column::Id.eq(n.id))
        .filter(notice::Column::Status.eq(n.status))
        .filter(notice::Column::Attempts.eq(n.attempts))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

async fn release<C: ConnectionTrait>(
    db: &C,
    id: i64,
    owner: &str,
    status: NoticeStatus,
    retry_at: Option<DateTime<Utc>>,
    error: &str,
    now: DateTime<Utc>,
) -> Result<()> {
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

/// The date a wave's deadline is shown as in mail.
pub(super) fn deadline_text(d: DateTime<Utc>) -> String {
    d.format("%B %-d, %Y %H:%M UTC").to_string()
}

/// Everything a message shows, from the org, its contact, its link and the configuration.
pub(super) fn context(
    config: &crate::config::Config,
    o: &org::Model,
    contact_name: Option<String>,
    link_url: String,
    expires: DateTime<Utc>,
    deadline: Option<String>,
) -> EmailContext {
    let p = &config.partner;
    EmailContext {
        contact_name,
        org_name: o.name.clone(),
        org_id: o.id.to_string(),
        org_state: o.state.to_string(),
        partner: p.name.clone(),
        partners: crate::wording::possessive(&p.name),
        orgs: crate::wording::possessive(&o.name),
        support_email: p.support_email.clone(),
        link_url,
        expires: expires.format("%B %-d, %Y").to_string(),
        by: deadline
            .as_ref()
            .map(|d| format!(" by {d}"))
            .unwrap_or_default(),
        deadline_note: deadline
            .as_ref()
            .map(|d| format!(" (deadline {d})"))
            .unwrap_or_default(),
        egress_ranges: p.egress_ranges.iter().map(ToString::to_string).collect(),
        upcoming_ranges: crate::ip_ranges::published(p, Utc::now().date_naive())
            .1
            .iter()
            .map(|r| {
                format!(
                    "{} from {}",
                    r.cidr,
                    r.from
                        .map(|d| d.format("%B %-d, %Y").to_string())
                        .unwrap_or_default()
                )
            })
            .collect(),
        ip_ranges_url: format!(
            "{}/ip-ranges",
            config.base_url.as_str().trim_end_matches('/')
        ),
        install_url: config.legacy.install_url.clone().unwrap_or_default(),
        package_version: config
            .legacy
            .package_min_version
            .clone()
            .unwrap_or_default(),
    }
}

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

async fn send_one<C: ConnectionTrait + TransactionTrait>(
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
    events::record(
        db,
        now,
        &Actor::System,
        Some(&n.org_id),
        "notice.sent",
        serde_json::json!({ "notice_id": n.id, "kind": n.kind, "to": to, "message_id": message_id, "delivered": s.mailer.delivers() }),
    )
    .await?;
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
        notice::Entity::insert(again)
            .on_conflict(
                OnConflict::column(notice::Column::DedupeKey)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    let details = serde_json::json!({ "notice_id": n.id, "bounced": bounced.email, "error": error, "fallback": next.as_ref().map(|c| c.email.clone()) });
    events::record(
        db,
        now,
        &Actor::System,
        Some(&n.org_id),
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
