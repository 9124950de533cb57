//! Connections: a Salesforce grant for one org and one app, tokens sealed at rest. The token
//! vault (refresh protocol, heartbeat) builds on these rows.

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use secrecy::SecretString;

use crate::crypto::Sealer;
use crate::entity::connection;
use crate::error::Result;
use crate::salesforce::TokenGrant;
use crate::types::OrgId;

/// Associated data binding a sealed token to its row and column.
pub fn aad(connection_id: i64, field: &str) -> String {
    format!("reauth:connection:{connection_id}:{field}")
}

/// A grant about to be stored.
pub struct NewConnection<'a> {
    pub org_id: &'a OrgId,
    pub app: &'a str,
    pub status: &'a str,
    pub grant: &'a TokenGrant,
    pub refresh_token: &'a SecretString,
    /// The connection this one replaces once verified.
    pub replaces_id: Option<i64>,
    pub heartbeat_interval: std::time::Duration,
}

/// Stores a new grant with the given status; tokens are sealed under the newest key, bound to
/// the new row's id (inserted first, sealed second, in the caller's transaction).
pub async fn insert<C: ConnectionTrait>(
    db: &C,
    new: NewConnection<'_>,
    sealer: &Sealer,
    now: DateTime<Utc>,
) -> Result<connection::Model> {
    let NewConnection {
        org_id,
        app,
        status,
        grant,
        refresh_token,
        replaces_id,
        heartbeat_interval,
    } = new;
    let row = connection::ActiveModel {
        id: NotSet,
        org_id: Set(org_id.as_str().to_owned()),
        app: Set(app.to_owned()),
        status: Set(status.to_owned()),
        refresh_token_ct: Set(None),
        access_token_ct: Set(None),
        key_id: Set(None),
        instance_url: Set(grant.instance_url.clone()),
        id_url: Set(grant.id.url.clone()),
        sf_user_id: Set(grant.id.user_id.clone()),
        sf_username: Set(None),
        scopes: Set(grant.scopes.join(" ")),
        issued_at: Set(now),
        access_token_at: Set(Some(now)),
        last_exchange_at: Set(now),
        next_heartbeat_at: Set(Some(
            now + chrono::Duration::from_std(heartbeat_interval)
                .unwrap_or(chrono::Duration::days(25)),
        )),
        heartbeat_interval_secs: Set(None),
        version: Set(0),
        lease_owner: Set(None),
        lease_expires_at: Set(None),
        refresh_started_at: Set(None),
        last_error_class: Set(None),
        last_error: Set(None),
        last_error_at: Set(None),
        replaces_id: Set(replaces_id),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let model = connection::Entity::insert(row)
        .exec_with_returning(db)
        .await?;
    let rt = sealer.seal_str(refresh_token, &aad(model.id, "refresh_token"));
    let at = sealer.seal_str(&grant.access_token, &aad(model.id, "access_token"));
    let update = connection::ActiveModel {
        id: Set(model.id),
        refresh_token_ct: Set(Some(rt.bytes)),
        access_token_ct: Set(Some(at.bytes)),
        key_id: Set(Some(rt.key_id)),
        ..Default::default()
    };
    Ok(connection::Entity::update(update).exec(db).await?)
}

/// The org's connections for an app with a status, newest first.
pub async fn find<C: ConnectionTrait>(
    db: &C,
    org_id: &OrgId,
    app: &str,
    status: &str,
) -> Result<Vec<connection::Model>> {
    Ok(connection::Entity::find()
        .filter(connection::Column::OrgId.eq(org_id.as_str()))
        .filter(connection::Column::App.eq(app))
        .filter(connection::Column::Status.eq(status))
        .order_by_desc(connection::Column::Id)
        .all(db)
        .await?)
}

/// Sets a connection's status (bumping the version fence).
pub async fn set_status<C: ConnectionTrait>(
    db: &C,
    id: i64,
    status: &str,
    sf_username: Option<String>,
    now: DateTime<Utc>,
) -> Result<()> {
    use sea_orm::sea_query::{Expr, ExprTrait};
    let mut q = connection::Entity::update_many()
        .col_expr(connection::Column::Status, Expr::value(status))
        .col_expr(connection::Column::UpdatedAt, Expr::value(now))
        .col_expr(
            connection::Column::Version,
            Expr::col(connection::Column::Version).add(1),
        );
    if let Some(u) = sf_username {
        q = q.col_expr(connection::Column::SfUsername, Expr::value(u));
    }
    q.filter(connection::Column::Id.eq(id)).exec(db).await?;
    Ok(())
}

/// Opens a connection's sealed refresh token.
pub fn refresh_token(c: &connection::Model, sealer: &Sealer) -> Result<Option<SecretString>> {
    match (&c.refresh_token_ct, &c.key_id) {
        (Some(ct), Some(k)) => Ok(Some(
            sealer
                .open_str(k, ct, &aad(c.id, "refresh_token"))
                .map_err(|e| crate::Error::Invalid(format!("connection {}: {e}", c.id)))?,
        )),
        _ => Ok(None),
    }
}

/// How many grants this Salesforce user has given this app across our connections (Salesforce
/// keeps five approvals per user per app and silently revokes the oldest beyond that).
pub async fn approvals_by_user<C: ConnectionTrait>(
    db: &C,
    sf_user_id: &str,
    app: &str,
) -> Result<u64> {
    use sea_orm::PaginatorTrait;
    Ok(connection::Entity::find()
        .filter(connection::Column::SfUserId.eq(sf_user_id))
        .filter(connection::Column::App.eq(app))
        .count(db)
        .await?)
}
