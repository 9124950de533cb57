//! Re-auth links: a 256-bit secret in a URL, of which only the SHA-256 is stored.
//!
//! Opening a link never consumes it (mail scanners fetch links before people do); a successful
//! consent does. Links expire (default 14 days) and can be revoked.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, TransactionSession,
    TransactionTrait,
};
use secrecy::{ExposeSecret, SecretString};

use crate::entity::{contact, link, org};
use crate::error::{Error, Result};
use crate::events::{self, Actor};
use crate::registry::state::{self, Change, OrgState};
use crate::types::{Email, OrgId};

/// Length of an encoded secret: 32 bytes in unpadded base64url.
const SECRET_LEN: usize = 43;

/// A freshly minted link secret. It exists only in memory (and in the URL given out).
pub struct LinkSecret(SecretString);

impl LinkSecret {
    /// 256 random bits, base64url without padding.
    pub fn generate() -> Self {
        Self(SecretString::from(crate::security::crypto::random_token()))
    }

    /// Wraps a secret recovered from storage (a notice's sealed link).
    pub fn from_secret(s: SecretString) -> Self {
        Self(s)
    }

    /// The secret text (for building the URL; never log it).
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The public URL of the link.
    pub fn url(&self, base_url: &url::Url) -> String {
        format!(
            "{}/r/{}",
            base_url.as_str().trim_end_matches('/'),
            self.expose()
        )
    }
}

impl std::fmt::Debug for LinkSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSecret([redacted])")
    }
}

/// The stored form of a secret.
pub fn hash(secret: &str) -> String {
    crate::security::crypto::sha256_hex(secret.as_bytes())
}

/// Whether text could be a secret we minted (anything else is tampered or truncated).
fn well_formed(secret: &str) -> bool {
    secret.len() == SECRET_LEN
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A new link for an org.
pub struct NewLink<'a> {
    pub org_id: &'a OrgId,
    /// A contact on file; the primary contact when `None`.
    pub contact: Option<&'a Email>,
    pub ttl: Duration,
    pub notice_id: Option<i64>,
}

/// Mints a link and stores its hash. Returns the secret (shown once) and the row.
pub async fn create<C: ConnectionTrait>(
    db: &C,
    new: NewLink<'_>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(LinkSecret, link::Model)> {
    org::Entity::find_by_id(new.org_id.clone())
        .one(db)
        .await?
        .ok_or_else(|| Error::UnknownOrg(new.org_id.clone()))?;
    let contacts = contact::Entity::find()
        .filter(contact::Column::OrgId.eq(new.org_id.as_str()))
        .order_by_asc(contact::Column::Id)
        .all(db)
        .await?;
    let contact = match new.contact {
        Some(email) => Some(
            contacts
                .iter()
                .find(|c| c.email == email.as_str())
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "{email} is not a contact of org {} (links go only to contacts on file)",
                        new.org_id
                    ))
                })?,
        ),
        None => contacts.iter().find(|c| c.role == "primary"),
    };
    let ttl = chrono::Duration::from_std(new.ttl)
        .map_err(|_| Error::Invalid("link lifetime is too long".into()))?;
    let secret = LinkSecret::generate();
    let row = link::ActiveModel {
        id: NotSet,
        secret_hash: Set(hash(secret.expose())),
        org_id: Set(new.org_id.clone()),
        contact_id: Set(contact.map(|c| c.id)),
        notice_id: Set(new.notice_id),
        created_by: Set(actor_label(actor)),
        created_at: Set(now),
        expires_at: Set(now + ttl),
        first_opened_at: Set(None),
        last_opened_at: Set(None),
        open_count: Set(0),
        used_at: Set(None),
        revoked_at: Set(None),
    };
    let model = link::Entity::insert(row).exec_with_returning(db).await?;
    events::record(
        db,
        now,
        actor,
        Some(new.org_id),
        "link.created",
        serde_json::json!({ "link_id": model.id, "contact": contact.map(|c| c.email.clone()), "expires_at": model.expires_at }),
    )
    .await?;
    Ok((secret, model))
}

fn actor_label(a: &Actor) -> String {
    match a.name() {
        Some(n) => format!("{}:{n}", a.kind()),
        None => a.kind().to_owned(),
    }
}

/// What a secret from a URL leads to.
#[derive(Debug, Clone)]
pub enum Lookup {
    Valid(link::Model, org::Model),
    Expired(link::Model, org::Model),
    Used(link::Model, org::Model),
    Revoked(link::Model, org::Model),
    /// Never minted here, mistyped or tampered.
    Unknown,
}

/// Finds the link for a secret taken from a URL.
pub async fn lookup<C: ConnectionTrait>(
    db: &C,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<Lookup> {
    if !well_formed(secret) {
        return Ok(Lookup::Unknown);
    }
    let found = link::Entity::find()
        .filter(link::Column::SecretHash.eq(hash(secret)))
        .one(db)
        .await?;
    classify(db, found, now).await
}

/// Finds a link by id (for a browser that already presented its secret in this session).
pub async fn lookup_by_id<C: ConnectionTrait>(
    db: &C,
    id: i64,
    now: DateTime<Utc>,
) -> Result<Lookup> {
    let found = link::Entity::find_by_id(id).one(db).await?;
    classify(db, found, now).await
}

async fn classify<C: ConnectionTrait>(
    db: &C,
    found: Option<link::Model>,
    now: DateTime<Utc>,
) -> Result<Lookup> {
    let Some(l) = found else {
        return Ok(Lookup::Unknown);
    };
    let Some(o) = org::Entity::find_by_id(l.org_id.clone()).one(db).await? else {
        return Ok(Lookup::Unknown);
    };
    Ok(if l.revoked_at.is_some() {
        Lookup::Revoked(l, o)
    } else if l.used_at.is_some() {
        Lookup::Used(l, o)
    } else if l.expires_at <= now {
        Lookup::Expired(l, o)
    } else {
        Lookup::Valid(l, o)
    })
}

/// Records that a valid link was opened and moves the org to `opened` (forward only). Mail
/// scanners open links too, so this is a signal, not proof of a person.
pub async fn record_open<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    l: &link::Model,
    now: DateTime<Utc>,
) -> Result<()> {
    let first = l.first_opened_at.is_none();
    link::Entity::update_many()
        .col_expr(
            link::Column::OpenCount,
            Expr::col(link::Column::OpenCount).add(1),
        )
        .col_expr(link::Column::LastOpenedAt, Expr::value(now))
        .col_expr(
            link::Column::FirstOpenedAt,
            Expr::value(l.first_opened_at.unwrap_or(now)),
        )
        .filter(link::Column::Id.eq(l.id))
        .exec(db)
        .await?;
    if first {
        let org_id = l.org_id.clone();
        let actor = Actor::Customer("link visitor".into());
        events::record(
            db,
            now,
            &actor,
            Some(&org_id),
            "link.opened",
            serde_json::json!({ "link_id": l.id }),
        )
        .await?;
        state::apply(db, &org_id, Change::Advance(OrgState::Opened), &actor, now).await?;
    }
    Ok(())
}

/// Marks a link used, once. Returns false when it was already used or revoked (a replay).
pub async fn consume<C: ConnectionTrait>(db: &C, link_id: i64, now: DateTime<Utc>) -> Result<bool> {
    let res = link::Entity::update_many()
        .col_expr(link::Column::UsedAt, Expr::value(now))
        .filter(link::Column::Id.eq(link_id))
        .filter(link::Column::UsedAt.is_null())
        .filter(link::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Revokes a link by id.
pub async fn revoke<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    link_id: i64,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<()> {
    let txn = crate::db::begin_write(db).await?;
    let l = link::Entity::find_by_id(link_id)
        .one(&txn)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no link with id {link_id}")))?;
    if l.revoked_at.is_none() {
        link::Entity::update_many()
            .col_expr(link::Column::RevokedAt, Expr::value(now))
            .filter(link::Column::Id.eq(link_id))
            .exec(&txn)
            .await?;
        let org_id = l.org_id.clone();
        events::record(
            &txn,
            now,
            actor,
            Some(&org_id),
            "link.revoked",
            serde_json::json!({ "link_id": link_id }),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// An org's links, newest first.
pub async fn list_for_org<C: ConnectionTrait>(db: &C, org_id: &OrgId) -> Result<Vec<link::Model>> {
    Ok(link::Entity::find()
        .filter(link::Column::OrgId.eq(org_id.as_str()))
        .order_by_desc(link::Column::CreatedAt)
        .order_by_desc(link::Column::Id)
        .all(db)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_256_bit_base64url_and_hash_to_hex() {
        let s = LinkSecret::generate();
        assert_eq!(s.expose().len(), SECRET_LEN);
        assert!(well_formed(s.expose()));
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(LinkSecret::generate().expose(), s.expose());
        assert_eq!(format!("{s:?}"), "LinkSecret([redacted])");
    }

    #[test]
    fn malformed_secrets_are_unknown_without_a_lookup() {
        assert!(!well_formed("short"));
        assert!(!well_formed(&"a".repeat(42)));
        assert!(!well_formed(&format!("{}~", "a".repeat(42))));
    }
}
