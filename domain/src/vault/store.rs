//! Connections: a Salesforce grant for one org and one app, tokens sealed at rest. New rows are
//! inserted here; every later write goes through the vault's fenced lease API
//! (`crate::vault::lease`).

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use secrecy::SecretString;

use crate::entity::connection::{self, ConnectionApp, ConnectionStatus};
use crate::error::Result;
use crate::salesforce::IdUrl;
use crate::security::crypto::Sealer;
use crate::types::OrgId;

/// Associated data binding a sealed token to its row and column.
pub fn aad(connection_id: i64, field: &str) -> String {
    format!("reauth:connection:{connection_id}:{field}")
}

/// A grant about to be stored.
pub struct NewConnection<'a> {
    pub org_id: &'a OrgId,
    pub app: ConnectionApp,
    pub status: ConnectionStatus,
    /// Whose grant it is (the answer's identity URL).
    pub id: &'a IdUrl,
    pub instance_url: &'a str,
    pub scopes: &'a [String],
    /// `None` for an imported legacy token (it comes without one).
    pub access_token: Option<&'a SecretString>,
    pub refresh_token: &'a SecretString,
    /// What looked wrong about the answer it came in, if anything.
    pub anomaly: Option<String>,
    /// The connection this one replaces once verified.
    pub replaces_id: Option<i64>,
    /// When the heartbeat first refreshes it: after this interval, or (`None`) never until it
    /// is handed over (a held legacy token).
    pub heartbeat_interval: Option<std::time::Duration>,
    /// When Salesforce issued the grant and its user's name, when known (an import says);
    /// otherwise now and unknown.
    pub issued_at: Option<DateTime<Utc>>,
    pub sf_username: Option<String>,
}

impl<'a> NewConnection<'a> {
    /// A connection to the packaged app from a code exchange's answer (seeding, tests), or `None`
    /// when the answer lacks a recognised identity or instance URL.
    pub fn from_grant(
        org_id: &'a OrgId,
        status: ConnectionStatus,
        grant: &'a crate::salesforce::TokenGrant,
        refresh_token: &'a SecretString,
        heartbeat_interval: std::time::Duration,
    ) -> Option<Self> {
        Some(Self {
            org_id,
            app: ConnectionApp::Eca,
            status,
            id: grant.id.as_ref()?,
            instance_url: grant.instance_url.as_deref()?,
            scopes: &grant.scopes,
            access_token: Some(&grant.access_token),
            refresh_token,
            anomaly: None,
            replaces_id: None,
            heartbeat_interval: Some(heartbeat_interval),
            issued_at: None,
            sf_username: None,
        })
    }
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
        id,
        instance_url,
        scopes,
        access_token,
        refresh_token,
        anomaly,
        replaces_id,
        heartbeat_interval,
        issued_at,
        sf_username,
    } = new;
    let issued = issued_at.unwrap_or(now);
    let row = connection::ActiveModel {
        id: NotSet,
        org_id: Set(org_id.clone()),
        app: Set(app),
        status: Set(status),
        refresh_token_ct: Set(None),
        access_token_ct: Set(None),
        key_id: Set(None),
        instance_url: Set(instance_url.to_owned()),
        id_url: Set(id.url.clone()),
        sf_user_id: Set(id.user_id.clone()),
        sf_username: Set(sf_username),
        scopes: Set(scopes.join(" ")),
        issued_at: Set(issued),
        access_token_at: Set(access_token.map(|_| now)),
        last_exchange_at: Set(issued),
        next_heartbeat_at: Set(heartbeat_interval
            .map(|i| now + chrono::Duration::from_std(i).unwrap_or(chrono::Duration::days(25)))),
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
        pending_refresh_token_ct: Set(None),
        pending_key_id: Set(None),
        pending_at: Set(None),
        anomaly: Set(anomaly),
        verify_attempts: Set(0),
        // A connection waiting for verification is verified (and retried) from now on.
        next_verify_at: Set((status == ConnectionStatus::Verifying).then_some(now)),
        verified_at: Set(None),
        revoke_attempts: Set(0),
        next_revoke_at: Set(None),
        rests_as: Set(None),
    };
    let model = connection::Entity::insert(row)
        .exec_with_returning(db)
        .await?;
    let rt = sealer.seal_str(refresh_token, &aad(model.id, "refresh_token"));
    let at = access_token.map(|t| sealer.seal_str(t, &aad(model.id, "access_token")).bytes);
    let update = connection::ActiveModel {
        id: Set(model.id),
        refresh_token_ct: Set(Some(rt.bytes)),
        access_token_ct: Set(at),
        key_id: Set(Some(rt.key_id)),
        ..Default::default()
    };
    Ok(connection::Entity::update(update).exec(db).await?)
}

/// The org's connections for an app in any of `statuses`, newest first.
pub async fn find<C: ConnectionTrait>(
    db: &C,
    org_id: &OrgId,
    app: ConnectionApp,
    statuses: &[ConnectionStatus],
) -> Result<Vec<connection::Model>> {
    Ok(connection::Entity::find()
        .filter(connection::Column::OrgId.eq(org_id.as_str()))
        .filter(connection::Column::App.eq(app))
        .filter(connection::Column::Status.is_in(statuses.iter().copied()))
        .order_by_desc(connection::Column::Id)
        .all(db)
        .await?)
}

/// Opens a connection's sealed refresh token (the stored one, not a parked one).
pub fn refresh_token(c: &connection::Model, sealer: &Sealer) -> Result<Option<SecretString>> {
    match (&c.refresh_token_ct, &c.key_id) {
        (Some(ct), Some(k)) => Ok(Some(
            sealer
                .open_str(k, ct, &aad(c.id, "refresh_token"))
                .map_err(|e| crate::Error::Internal(format!("connection {}: {e}", c.id)))?,
        )),
        _ => Ok(None),
    }
}

/// How many grants this Salesforce user has given this app across our connections (Salesforce
/// keeps five approvals per user per app and silently revokes the oldest beyond that).
pub async fn approvals_by_user<C: ConnectionTrait>(
    db: &C,
    sf_user_id: &str,
    app: ConnectionApp,
) -> Result<u64> {
    use sea_orm::PaginatorTrait;
    Ok(connection::Entity::find()
        .filter(connection::Column::SfUserId.eq(sf_user_id))
        .filter(connection::Column::App.eq(app))
        .filter(connection::Column::Status.is_in([
            ConnectionStatus::Active,
            ConnectionStatus::Verifying,
            ConnectionStatus::Refreshing,
            ConnectionStatus::Quarantined,
        ]))
        .count(db)
        .await?)
}
