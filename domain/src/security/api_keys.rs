//! API keys for the token API: shown once at creation, stored only as a SHA-256 hash,
//! revocable, with the last use recorded.

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use secrecy::SecretString;

use crate::entity::api_key;
use crate::error::{Error, Result};
use crate::events::{self, Actor};

/// Keys start with this, so leaked ones are easy to recognise (and to scan for).
const PREFIX: &str = "rk_";

fn hash(key: &str) -> String {
    crate::security::crypto::sha256_hex(key.as_bytes())
}

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum ApiScope {
    /// Get access tokens from the token API (every key created before scopes existed).
    TokensRead,
    /// Hand legacy Connected App tokens over to reauth.
    LegacyWrite,
}

impl ApiScope {
    /// Every scope.
    pub const ALL: [Self; 2] = [Self::TokensRead, Self::LegacyWrite];

    /// The spelling in `api_keys.scopes` and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TokensRead => "tokens:read",
            Self::LegacyWrite => "legacy:write",
        }
    }

    /// Parses a spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s.trim())
    }
}

/// Whether a key holds a scope.
pub fn allows(key: &api_key::Model, scope: ApiScope) -> bool {
    key.scopes.split_whitespace().any(|s| s == scope.as_str())
}

/// Creates a key that may read tokens; the secret is returned once and never stored.
pub async fn create<C: ConnectionTrait>(
    db: &C,
    name: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(SecretString, api_key::Model)> {
    create_with_scopes(db, name, &[ApiScope::TokensRead], actor, now).await
}

/// Creates a key with the given scopes (at least one); the secret is returned once.
pub async fn create_with_scopes<C: ConnectionTrait>(
    db: &C,
    name: &str,
    scopes: &[ApiScope],
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(SecretString, api_key::Model)> {
    if scopes.is_empty() {
        return Err(Error::Invalid("a key needs at least one scope".into()));
    }
    let mut names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(Error::Invalid(
            "a key name is 1–100 characters on one line".into(),
        ));
    }
    let key = format!("{PREFIX}{}", crate::security::crypto::random_token());
    let model = api_key::Entity::insert(api_key::ActiveModel {
        id: NotSet,
        name: Set(name.to_owned()),
        prefix: Set(key[..10].to_owned()),
        key_hash: Set(hash(&key)),
        created_by: Set(actor.name().map_or_else(
            || actor.kind().to_owned(),
            |n| format!("{}:{n}", actor.kind()),
        )),
        created_at: Set(now),
        last_used_at: Set(None),
        revoked_at: Set(None),
        scopes: Set(names.join(" ")),
    })
    .exec_with_returning(db)
    .await?;
    events::record(
        db,
        now,
        actor,
        None,
        "api_key.created",
        serde_json::json!({ "id": model.id, "name": name, "prefix": model.prefix }),
    )
    .await?;
    Ok((SecretString::from(key), model))
}

/// The live key matching a presented secret. Records the use (at most once a minute per key).
pub async fn authenticate<C: ConnectionTrait>(
    db: &C,
    presented: &str,
    now: DateTime<Utc>,
) -> Result<Option<api_key::Model>> {
    if !presented.starts_with(PREFIX) || presented.len() != PREFIX.len() + 43 {
        return Ok(None);
    }
    let Some(k) = api_key::Entity::find()
        .filter(api_key::Column::KeyHash.eq(hash(presented)))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if k.revoked_at.is_some() {
        return Ok(None);
    }
    if k.last_used_at
        .is_none_or(|t| now - t > chrono::Duration::minutes(1))
    {
        api_key::Entity::update_many()
            .col_expr(api_key::Column::LastUsedAt, Expr::value(now))
            .filter(api_key::Column::Id.eq(k.id))
            .exec(db)
            .await?;
    }
    Ok(Some(k))
}

/// Revokes a key by id.
pub async fn revoke<C: ConnectionTrait>(
    db: &C,
    id: i64,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<()> {
    let res = api_key::Entity::update_many()
        .col_expr(api_key::Column::RevokedAt, Expr::value(now))
        .filter(api_key::Column::Id.eq(id))
        .filter(api_key::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    if res.rows_affected == 0 {
        return Err(Error::NotFound(format!("no live API key with id {id}")));
    }
    events::record(
        db,
        now,
        actor,
        None,
        "api_key.revoked",
        serde_json::json!({ "id": id }),
    )
    .await?;
    Ok(())
}

/// Every key (never the secrets), newest first.
pub async fn list<C: ConnectionTrait>(db: &C) -> Result<Vec<api_key::Model>> {
    Ok(api_key::Entity::find()
        .order_by_desc(api_key::Column::Id)
        .all(db)
        .await?)
}
