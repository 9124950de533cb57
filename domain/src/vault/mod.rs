//! The token vault: the single owner of every refresh token.
//!
//! A refresh claims a lease on the connection row with a version fence (a conditional UPDATE that
//! also marks the row `refreshing`, write-ahead), exchanges the stored refresh token with a time
//! limit well inside the lease, and persists the answer with an UPDATE only the lease holder can
//! make — retrying the write, never the exchange. Waiters in one process share one in-flight
//! refresh (a per-connection lock, then a re-read); other processes wait for the lease and
//! re-read. An ambiguous answer (time-out after sending, 5xx, `token request is already being
//! processed`) is never resent blindly: after a pause, one probe with the stored token decides.
//! A lease found expired while `refreshing` means a worker died mid-rotation: the same probe
//! recovers the token if Salesforce never saw the request, and otherwise says precisely that the
//! rotation was lost.

mod classify;
pub mod heartbeat;
mod reauth;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

pub use classify::{ErrorClass, classify};

use crate::config::Config;
use crate::connections::aad;
use crate::crypto::Sealer;
use crate::entity::connection;
use crate::error::{Error, Result};
use crate::salesforce::{SfClient, SfError, TokenGrant};
use crate::time::Clock;
use crate::types::{LoginUrl, OrgId};

/// How long a claimed lease lasts. The exchange's time limit is well inside it.
pub const LEASE: Duration = Duration::from_secs(60);
/// Pause before the one recovery probe after an ambiguous answer.
pub const PROBE_DELAY: Duration = Duration::from_secs(2);
/// How long a caller waits for another process's refresh before answering "retry shortly".
const MAX_LEASE_WAIT: Duration = Duration::from_secs(10);
/// An access token is trusted until `session_timeout` minus this margin.
const FRESHNESS_MARGIN: chrono::Duration = chrono::Duration::minutes(5);

/// A usable access token.
#[derive(Clone)]
pub struct AccessToken {
    pub org_id: OrgId,
    pub token: SecretString,
    pub instance_url: String,
    pub issued_at: DateTime<Utc>,
    /// Until when reauth treats it as fresh.
    pub fresh_until: DateTime<Utc>,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("org_id", &self.org_id)
            .field("issued_at", &self.issued_at)
            .finish_non_exhaustive()
    }
}

/// Why a token could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum VaultError {
    #[error("no connection for org {org_id}")]
    NoConnection { org_id: String },
    #[error("org {org_id} must consent again: {reason}")]
    NeedsReauth { org_id: String, reason: String },
    #[error(
        "Salesforce could not refresh the token for org {org_id} right now ({class}): {detail}"
    )]
    Unavailable {
        org_id: String,
        class: String,
        detail: String,
    },
}

/// Why a refresh was asked for (recorded in events and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Heartbeat,
    /// The token API needed a fresh access token.
    Demand,
    /// A partner reported a 401.
    Forced,
    /// A lease expired while `refreshing`.
    Recovery,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Self::Heartbeat => "heartbeat",
            Self::Demand => "demand",
            Self::Forced => "forced",
            Self::Recovery => "recovery",
        }
    }
}

/// The vault: one per process, shared by the server and the worker.
#[derive(Clone)]
pub struct Vault {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    sf: SfClient,
    sealer: Sealer,
    config: Arc<Config>,
    clock: Clock,
    owner: String,
    /// One lock per connection: waiters in this process share one refresh.
    locks: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
    /// Decrypted access tokens by org, so the hot path does not touch the database.
    cache: Mutex<HashMap<String, AccessToken>>,
    probe_delay: Duration,
}

impl Vault {
    /// Builds the vault. `owner` names this process in leases.
    pub fn new(
        db: DatabaseConnection,
        sf: SfClient,
        sealer: Sealer,
        config: Arc<Config>,
        clock: Clock,
        owner: String,
    ) -> Self {
        Self::with_probe_delay(db, sf, sealer, config, clock, owner, PROBE_DELAY)
    }

    /// Builds the vault from configuration, or `None` until `salesforce.client_id` and
    /// `crypto.keys` are configured.
    pub fn from_config(
        db: DatabaseConnection,
        config: Arc<Config>,
        clock: Clock,
        owner: String,
    ) -> Result<Option<Self>> {
        let (Some(sf), false) = (
            SfClient::from_config(&config)?,
            config.crypto.keys.is_empty(),
        ) else {
            return Ok(None);
        };
        let sealer = Sealer::from_config(&config.crypto)?;
        Ok(Some(Self::new(db, sf, sealer, config, clock, owner)))
    }

    /// As `new`, with another pause before recovery probes (tests shorten it).
    pub fn with_probe_delay(
        db: DatabaseConnection,
        sf: SfClient,
        sealer: Sealer,
        config: Arc<Config>,
        clock: Clock,
        owner: String,
        probe_delay: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                sf,
                sealer,
                config,
                clock,
                owner,
                locks: Mutex::new(HashMap::new()),
                cache: Mutex::new(HashMap::new()),
                probe_delay,
            }),
        }
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.inner.db
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    fn lock_for(&self, id: i64) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .inner
            .locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        locks.entry(id).or_default().clone()
    }

    /// A cached, still-fresh access token for an org (no database, no Salesforce).
    pub fn cached(&self, org: &OrgId) -> Option<AccessToken> {
        let cache = self
            .inner
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache
            .get(org.as_str())
            .filter(|t| t.fresh_until > self.now())
            .cloned()
    }

    fn remember(&self, t: &AccessToken) {
        let mut cache = self
            .inner
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.insert(t.org_id.as_str().to_owned(), t.clone());
    }

    fn forget(&self, org: &str) {
        let mut cache = self
            .inner
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.remove(org);
    }

    /// The org's current connection to the packaged app.
    async fn connection_for(&self, org: &OrgId) -> Result<Option<connection::Model>> {
        Ok(connection::Entity::find()
            .filter(connection::Column::OrgId.eq(org.as_str()))
            .filter(connection::Column::App.eq(crate::reconsent::APP))
            .filter(connection::Column::Status.is_in(["active", "refreshing", "needs_reauth"]))
            .order_by_desc(connection::Column::Id)
            .one(&self.inner.db)
            .await?)
    }

    /// A usable access token for an org, refreshing through the vault when needed.
    pub async fn access_token(
        &self,
        org: &OrgId,
    ) -> Result<std::result::Result<AccessToken, VaultError>> {
        if let Some(t) = self.cached(org) {
            return Ok(Ok(t));
        }
        let Some(c) = self.connection_for(org).await? else {
            return Ok(Err(VaultError::NoConnection {
                org_id: org.to_string(),
            }));
        };
        let deadline = tokio::time::Instant::now() + MAX_LEASE_WAIT;
        let lock = self.lock_for(c.id);
        let Ok(_guard) = tokio::time::timeout_at(deadline, lock.lock()).await else {
            return Ok(Err(busy(&c.org_id)));
        };
        // Whoever held the lock before us may have refreshed: look again.
        if let Some(t) = self.cached(org) {
            return Ok(Ok(t));
        }
        let c = self.reload(c.id).await?;
        if let Some(t) = self.fresh_token(&c)? {
            self.remember(&t);
            return Ok(Ok(t));
        }
        self.refresh_locked(c.id, Trigger::Demand, deadline).await
    }

    /// A forced refresh after the partner saw a 401. If the rejected token is given and the current
    /// one is already newer, or the last exchange is within `heartbeat.min_gap`, the current
    /// token is returned without a new exchange (every exchange is a login in the customer's org).
    pub async fn force_refresh(
        &self,
        org: &OrgId,
        rejected: Option<&str>,
    ) -> Result<std::result::Result<AccessToken, VaultError>> {
        let Some(c) = self.connection_for(org).await? else {
            return Ok(Err(VaultError::NoConnection {
                org_id: org.to_string(),
            }));
        };
        let deadline = tokio::time::Instant::now() + MAX_LEASE_WAIT;
        let lock = self.lock_for(c.id);
        let Ok(_guard) = tokio::time::timeout_at(deadline, lock.lock()).await else {
            return Ok(Err(busy(&c.org_id)));
        };
        let c = self.reload(c.id).await?;
        if c.status == "active"
            && let Some(t) = self.decrypt_access(&c)?
        {
            let newer = rejected.is_some_and(|r| r != t.token.expose_secret());
            let gap =
                chrono::Duration::from_std(self.inner.config.heartbeat.min_gap).unwrap_or_default();
            if newer || self.now() - c.last_exchange_at < gap {
                self.remember(&t);
                return Ok(Ok(t));
            }
        }
        self.forget(org.as_str());
        self.refresh_locked(c.id, Trigger::Forced, deadline).await
    }

    /// Refreshes one connection now (the heartbeat's entry point).
    pub async fn refresh(
        &self,
        connection_id: i64,
        trigger: Trigger,
    ) -> Result<std::result::Result<AccessToken, VaultError>> {
        let deadline = tokio::time::Instant::now() + MAX_LEASE_WAIT;
        let lock = self.lock_for(connection_id);
        let _guard = if trigger == Trigger::Heartbeat {
            // This process is already refreshing it for someone: nothing for the heartbeat to do.
            match lock.try_lock() {
                Ok(g) => g,
                Err(_) => return Ok(Err(busy(""))),
            }
        } else {
            match tokio::time::timeout_at(deadline, lock.lock()).await {
                Ok(g) => g,
                Err(_) => return Ok(Err(busy(""))),
            }
        };
        self.refresh_locked(connection_id, trigger, deadline).await
    }

    async fn reload(&self, id: i64) -> Result<connection::Model> {
        connection::Entity::find_by_id(id)
            .one(&self.inner.db)
            .await?
            .ok_or_else(|| Error::Invalid(format!("connection {id} vanished")))
    }

    fn decrypt_access(&self, c: &connection::Model) -> Result<Option<AccessToken>> {
        let (Some(ct), Some(key), Some(at)) = (&c.access_token_ct, &c.key_id, c.access_token_at)
        else {
            return Ok(None);
        };
        let token = self
            .inner
            .sealer
            .open_str(key, ct, &aad(c.id, "access_token"))
            .map_err(|e| Error::Invalid(format!("connection {}: {e}", c.id)))?;
        let timeout = chrono::Duration::from_std(self.inner.config.salesforce.session_timeout)
            .unwrap_or_default();
        let org_id = OrgId::parse(&c.org_id).map_err(|e| Error::Invalid(e.to_string()))?;
        Ok(Some(AccessToken {
            org_id,
            token,
            instance_url: c.instance_url.clone(),
            issued_at: at,
            fresh_until: at + timeout - FRESHNESS_MARGIN,
        }))
    }

    fn fresh_token(&self, c: &connection::Model) -> Result<Option<AccessToken>> {
        if c.status != "active" {
            return Ok(None);
        }
        Ok(self
            .decrypt_access(c)?
            .filter(|t| t.fresh_until > self.now()))
    }

    /// The refresh protocol. The caller holds this process's lock for the connection.
    async fn refresh_locked(
        &self,
        id: i64,
        trigger: Trigger,
        deadline: tokio::time::Instant,
    ) -> Result<std::result::Result<AccessToken, VaultError>> {
        for _ in 0..50 {
            let c = self.reload(id).await?;
            let now = self.now();
            let recovering = match c.status.as_str() {
                "needs_reauth" | "revoked" | "superseded" => {
                    return Ok(Err(VaultError::NeedsReauth {
                        org_id: c.org_id.clone(),
                        reason: c.last_error.clone().unwrap_or_else(|| c.status.clone()),
                    }));
                }
                "refreshing" if c.lease_expires_at.is_some_and(|t| t > now) => {
                    // Another process holds the lease. The heartbeat leaves it to them; callers
                    // wait a bounded time for it, then re-read.
                    metrics::counter!("reauth_lease_contention_total").increment(1);
                    if trigger == Trigger::Heartbeat {
                        return Ok(Err(VaultError::Unavailable {
                            org_id: c.org_id.clone(),
                            class: "busy".into(),
                            detail: "another process is refreshing this connection".into(),
                        }));
                    }
                    if !self.wait_for_lease(&c, deadline).await? {
                        return Ok(Err(VaultError::Unavailable {
                            org_id: c.org_id.clone(),
                            class: "busy".into(),
                            detail: "another process has been refreshing this connection for a while; retry shortly".into(),
                        }));
                    }
                    let after = self.reload(id).await?;
                    if after.version != c.version
                        && let Some(t) = self.fresh_token(&after)?
                    {
                        self.remember(&t);
                        return Ok(Ok(t));
                    }
                    continue;
                }
                "refreshing" => true,
                _ => false,
            };
            let version = c.version + 1;
            if !self.claim(&c, now).await? {
                continue;
            }
            let trigger = if recovering {
                Trigger::Recovery
            } else {
                trigger
            };
            // From here until the new tokens are stored, a cancelled caller (a client that
            // disconnected, a request timeout) must not stop the work: Salesforce may already
            // have rotated the token. The exchange runs on its own task and finishes regardless.
            let vault = self.clone();
            let id = c.id;
            return tokio::spawn(async move { vault.exchange_claimed(c, version, trigger).await })
                .await
                .map_err(|e| {
                    Error::Invalid(format!("connection {id}: the refresh task failed: {e}"))
                })?;
        }
        Err(Error::Conflict(format!(
            "connection {id}: could not claim its lease"
        )))
    }

    /// Waits until another process's lease ends (its refresh finished or its lease ran out), at
    /// most until `give_up`. Returns whether it ended.
    async fn wait_for_lease(
        &self,
        c: &connection::Model,
        give_up: tokio::time::Instant,
    ) -> Result<bool> {
        let lease_end =
            c.lease_expires_at.unwrap_or_else(|| self.now()) + chrono::Duration::seconds(1);
        let mut wait = Duration::from_millis(25);
        while self.now() < lease_end {
            if tokio::time::Instant::now() >= give_up {
                return Ok(false);
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_millis(500));
            let now_row = self.reload(c.id).await?;
            if now_row.status != "refreshing" || now_row.version != c.version {
                return Ok(true);
            }
        }
        Ok(true)
    }

    /// The conditional UPDATE that takes the lease and marks the row `refreshing` (write-ahead).
    async fn claim(&self, c: &connection::Model, now: DateTime<Utc>) -> Result<bool> {
        let lease = chrono::Duration::from_std(LEASE).unwrap_or_default();
        let res = connection::Entity::update_many()
            .col_expr(connection::Column::Status, Expr::value("refreshing"))
            .col_expr(
                connection::Column::LeaseOwner,
                Expr::value(self.inner.owner.clone()),
            )
            .col_expr(connection::Column::LeaseExpiresAt, Expr::value(now + lease))
            .col_expr(connection::Column::RefreshStartedAt, Expr::value(now))
            .col_expr(
                connection::Column::Version,
                Expr::col(connection::Column::Version).add(1),
            )
            .filter(connection::Column::Id.eq(c.id))
            .filter(connection::Column::Version.eq(c.version))
            .exec(&self.inner.db)
            .await?;
        Ok(res.rows_affected == 1)
    }

    async fn exchange_claimed(
        &self,
        c: connection::Model,
        version: i64,
        trigger: Trigger,
    ) -> Result<std::result::Result<AccessToken, VaultError>> {
        let org = c.org_id.clone();
        let rt = match c.refresh_token_ct.as_ref().zip(c.key_id.as_ref()) {
            Some((ct, key)) => {
                match self
                    .inner
                    .sealer
                    .open_str(key, ct, &aad(c.id, "refresh_token"))
                {
                    Ok(t) => t,
                    Err(e) => {
                        return self
                            .fail(
                                &c,
                                version,
                                ErrorClass::Ours,
                                &format!("cannot decrypt the refresh token: {e}"),
                            )
                            .await;
                    }
                }
            }
            None => {
                return self
                    .fail(
                        &c,
                        version,
                        ErrorClass::Ours,
                        "the connection has no refresh token",
                    )
                    .await;
            }
        };
        let login = match login_of(&c, &self.inner.config) {
            Ok(l) => l,
            Err(e) => {
                return self
                    .fail(&c, version, ErrorClass::Ours, &e.to_string())
                    .await;
            }
        };
        let started = std::time::Instant::now();
        let mut first = self.exchange(&login, &rt).await;
        metrics::histogram!("reauth_refresh_seconds").record(started.elapsed().as_secs_f64());
        let mut probed = false;
        if let Err(e) = &first
            && classify(e) == ErrorClass::Ambiguous
        {
            // Never a blind resend: pause, then one probe with the stored token. If Salesforce did
            // rotate, the new token is already lost and the probe only makes that explicit.
            tracing::warn!(org_id = %org, error = %e, "ambiguous refresh answer; probing once");
            tokio::time::sleep(self.inner.probe_delay).await;
            self.extend_lease(c.id, version).await?;
            first = self.exchange(&login, &rt).await;
            probed = true;
        }
        match first {
            Ok(grant) => self.persist(&c, version, grant, rt, trigger).await,
            Err(e) => {
                let class = classify(&e);
                metrics::counter!("reauth_refresh_total", "outcome" => class.as_str()).increment(1);
                if class == ErrorClass::Revoked && (trigger == Trigger::Recovery || probed) {
                    let reason = if trigger == Trigger::Recovery {
                        format!(
                            "rotation lost in a crash: a refresh was interrupted after it started and the stored refresh token no longer works ({e})"
                        )
                    } else {
                        format!(
                            "rotation lost: Salesforce's answer to a refresh never arrived intact and the stored refresh token no longer works ({e})"
                        )
                    };
                    return self.needs_reauth(&c, version, class, &reason).await;
                }
                if class == ErrorClass::Revoked {
                    return self.needs_reauth(&c, version, class, &e.to_string()).await;
                }
                self.fail(&c, version, class, &e.to_string()).await
            }
        }
    }

    async fn exchange(
        &self,
        login: &LoginUrl,
        rt: &SecretString,
    ) -> std::result::Result<TokenGrant, SfError> {
        // Well inside the lease, so a lease never expires under a live exchange.
        let limit = (LEASE / 3).min(self.inner.config.salesforce.http_timeout);
        match tokio::time::timeout(limit, self.inner.sf.refresh(login, rt)).await {
            Ok(r) => r,
            Err(_) => Err(SfError::Transport {
                sent: true,
                detail: "timed out".into(),
            }),
        }
    }

    async fn extend_lease(&self, id: i64, version: i64) -> Result<()> {
        let lease = chrono::Duration::from_std(LEASE).unwrap_or_default();
        connection::Entity::update_many()
            .col_expr(
                connection::Column::LeaseExpiresAt,
                Expr::value(self.now() + lease),
            )
            .filter(connection::Column::Id.eq(id))
            .filter(connection::Column::Version.eq(version))
            .filter(connection::Column::LeaseOwner.eq(self.inner.owner.clone()))
            .exec(&self.inner.db)
            .await?;
        Ok(())
    }

    /// Writes the new tokens. Only the lease holder's UPDATE matches; a failed write is retried
    /// (until the lease is nearly spent), never the exchange.
    async fn persist(
        &self,
        c: &connection::Model,
        version: i64,
        grant: TokenGrant,
        old_rt: SecretString,
        trigger: Trigger,
    ) -> Result<std::result::Result<AccessToken, VaultError>> {
        let now = self.now();
        // Rotation off: the answer carries no refresh token and the old one stays valid.
        let rt = grant.refresh_token.clone().unwrap_or(old_rt);
        let sealed_rt = self.inner.sealer.seal_str(&rt, &aad(c.id, "refresh_token"));
        let sealed_at = self
            .inner
            .sealer
            .seal_str(&grant.access_token, &aad(c.id, "access_token"));
        let interval = c
            .heartbeat_interval_secs
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs)
            .unwrap_or(self.inner.config.heartbeat.interval);
        let next = now + jittered(interval);
        let deadline = std::time::Instant::now() + LEASE / 2;
        let mut wait = Duration::from_millis(50);
        loop {
            let res = connection::Entity::update_many()
                .col_expr(
                    connection::Column::RefreshTokenCt,
                    Expr::value(sealed_rt.bytes.clone()),
                )
                .col_expr(
                    connection::Column::AccessTokenCt,
                    Expr::value(sealed_at.bytes.clone()),
                )
                .col_expr(
                    connection::Column::KeyId,
                    Expr::value(sealed_rt.key_id.clone()),
                )
                .col_expr(
                    connection::Column::InstanceUrl,
                    Expr::value(grant.instance_url.clone()),
                )
                .col_expr(connection::Column::Status, Expr::value("active"))
                .col_expr(connection::Column::AccessTokenAt, Expr::value(now))
                .col_expr(connection::Column::LastExchangeAt, Expr::value(now))
                .col_expr(connection::Column::NextHeartbeatAt, Expr::value(next))
                .col_expr(
                    connection::Column::LeaseOwner,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(
                    connection::Column::LeaseExpiresAt,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .col_expr(
                    connection::Column::LastErrorClass,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(
                    connection::Column::LastError,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(connection::Column::UpdatedAt, Expr::value(now))
                .col_expr(
                    connection::Column::Version,
                    Expr::col(connection::Column::Version).add(1),
                )
                .filter(connection::Column::Id.eq(c.id))
                .filter(connection::Column::Version.eq(version))
                .filter(connection::Column::LeaseOwner.eq(self.inner.owner.clone()))
                .exec(&self.inner.db)
                .await;
            match res {
                Ok(r) if r.rows_affected == 1 => break,
                Ok(_) => {
                    // Fenced out: someone recovered our lease. Our token is the newest, but the row
                    // is no longer ours; say so loudly rather than overwrite.
                    tracing::error!(
                        connection_id = c.id,
                        "lost the lease while refreshing; the new token was not stored"
                    );
                    return Err(Error::Conflict(format!(
                        "connection {}: lease lost during refresh",
                        c.id
                    )));
                }
                Err(e) if std::time::Instant::now() < deadline => {
                    tracing::warn!(connection_id = c.id, error = %e, "storing refreshed tokens failed; retrying the write");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(e.into()),
            }
        }
        metrics::counter!("reauth_refresh_total", "outcome" => "ok").increment(1);
        let org_id = OrgId::parse(&c.org_id).map_err(|e| Error::Invalid(e.to_string()))?;
        crate::events::record(&self.inner.db, now, &crate::events::Actor::System, Some(&org_id), "connection.refreshed", serde_json::json!({ "connection_id": c.id, "trigger": trigger.as_str(), "rotated": grant.refresh_token.is_some() })).await?;
        let timeout = chrono::Duration::from_std(self.inner.config.salesforce.session_timeout)
            .unwrap_or_default();
        let t = AccessToken {
            org_id,
            token: grant.access_token,
            instance_url: grant.instance_url,
            issued_at: now,
            fresh_until: now + timeout - FRESHNESS_MARGIN,
        };
        self.remember(&t);
        Ok(Ok(t))
    }

    /// Releases the lease after a failure that leaves the token standing.
    async fn fail(
        &self,
        c: &connection::Model,
        version: i64,
        class: ErrorClass,
        detail: &str,
    ) -> Result<std::result::Result<AccessToken, VaultError>> {
        let now = self.now();
        // Transient failures retry soon (with jitter); the others wait for a person or an hour.
        let retry = match class {
            ErrorClass::Transient | ErrorClass::Ambiguous => {
                chrono::Duration::seconds(30 + rand_secs(30))
            }
            _ => chrono::Duration::hours(1),
        };
        connection::Entity::update_many()
            .col_expr(connection::Column::Status, Expr::value("active"))
            .col_expr(
                connection::Column::LeaseOwner,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                connection::Column::LeaseExpiresAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(
                connection::Column::LastErrorClass,
                Expr::value(class.as_str()),
            )
            .col_expr(connection::Column::LastError, Expr::value(detail))
            .col_expr(connection::Column::LastErrorAt, Expr::value(now))
            .col_expr(
                connection::Column::NextHeartbeatAt,
                Expr::value(now + retry),
            )
            .col_expr(connection::Column::UpdatedAt, Expr::value(now))
            .col_expr(
                connection::Column::Version,
                Expr::col(connection::Column::Version).add(1),
            )
            .filter(connection::Column::Id.eq(c.id))
            .filter(connection::Column::Version.eq(version))
            .exec(&self.inner.db)
            .await?;
        metrics::counter!("reauth_refresh_total", "outcome" => class.as_str()).increment(1);
        reauth::after_failure(self, c, class, detail, now).await?;
        Ok(Err(VaultError::Unavailable {
            org_id: c.org_id.clone(),
            class: class.as_str().into(),
            detail: detail.into(),
        }))
    }

    async fn needs_reauth(
        &self,
        c: &connection::Model,
        version: i64,
        class: ErrorClass,
        reason: &str,
    ) -> Result<std::result::Result<AccessToken, VaultError>> {
        self.forget(&c.org_id);
        reauth::mark(self, c, version, class, reason).await?;
        Ok(Err(VaultError::NeedsReauth {
            org_id: c.org_id.clone(),
            reason: reason.into(),
        }))
    }
}

fn busy(org_id: &str) -> VaultError {
    VaultError::Unavailable {
        org_id: org_id.to_owned(),
        class: "busy".into(),
        detail: "this connection is being refreshed; retry shortly".into(),
    }
}

/// Where refreshes go: the login host the grant was made at (the `id` URL's origin).
fn login_of(c: &connection::Model, config: &Config) -> Result<LoginUrl> {
    let url = url::Url::parse(&c.id_url)
        .map_err(|e| Error::Invalid(format!("connection {}: id URL: {e}", c.id)))?;
    let origin = url.origin().ascii_serialization();
    LoginUrl::parse(&origin, &config.salesforce.extra_login_hosts)
        .map_err(|e| Error::Invalid(format!("connection {}: {e}", c.id)))
}

/// `interval` minus up to 5% at random, so connections made together spread out and none
/// exceeds the interval.
pub fn jittered(interval: Duration) -> chrono::Duration {
    let full = chrono::Duration::from_std(interval).unwrap_or_else(|_| chrono::Duration::days(25));
    let spread = full.num_seconds() / 20;
    full - chrono::Duration::seconds(if spread > 0 { rand_secs(spread) } else { 0 })
}

fn rand_secs(max: i64) -> i64 {
    use rand::Rng;
    rand::thread_rng().gen_range(0..=std::cmp::max(max, 0))
}
