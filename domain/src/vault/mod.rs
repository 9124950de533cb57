//! The token vault: the single owner of every refresh token.
//!
//! # The refresh protocol
//! A refresh claims a lease on the connection row ([`lease`]: a conditional UPDATE fenced by the
//! row's version, which also marks it `refreshing` — write-ahead), exchanges the stored refresh
//! token with a time limit well inside the lease while a keeper extends the lease, and persists
//! the answer with an UPDATE only the lease holder can make — retrying the write until it lands,
//! never the exchange. Waiters in one process share one in-flight refresh (a per-connection lock,
//! then a re-read); other processes wait for the lease and re-read.
//!
//! # Guarantees
//! - **A rotated token is never thrown away.** An answer that carries a new refresh token is
//!   stored even when something else about it looks wrong (an unknown instance host, a signature
//!   that does not match): the connection stays usable, the anomaly is recorded on the row, and an
//!   alert is raised. A token whose holder lost its lease is parked in the row's pending column,
//!   which the next holder presents first.
//! - **No refresh token is presented twice by reauth**, across processes: only a lease holder
//!   exchanges, a heartbeat claim re-checks that the row is still due in the same statement, and
//!   an ambiguous answer (a time-out after sending, a 5xx, `token request is already being
//!   processed`) is never resent blindly: after a pause, one probe with the stored token decides.
//! - **Nothing cancels an exchange half-way.** It runs on a task of its own that a caller going
//!   away does not stop, and `serve`/`worker` drain those tasks (and their writes) on shutdown.
//! - **Every loss is explicit.** A lease found expired while `refreshing` means a process died
//!   mid-rotation: the probe recovers the token if Salesforce never saw the request, and
//!   otherwise the connection goes to `needs_reauth` saying "rotation lost in a crash".
//!
//! The one loss no design can prevent: a process killed (SIGKILL, power loss) after Salesforce
//! rotated the token and before the answer reached the database. Salesforce has then invalidated
//! the stored token and the new one died with the process; the next holder's probe finds the
//! grant dead, the org is moved to re-consent, and the event and alert say exactly that.

mod cache;
mod classify;
pub mod heartbeat;
mod invalidate;
mod journal;
pub mod lease;
mod legacy;
mod outcome;
mod persist;
mod protocol;
mod reauth;
mod retire;
pub mod store;
mod usage;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use secrecy::ExposeSecret;
use tokio_util::task::TaskTracker;

pub use cache::AccessToken;
pub use classify::{ErrorClass, classify};
pub use legacy::{REVOKE_ALERT_AFTER, RevokeOutcome, revoke_backoff};
pub use outcome::{Answer, Trigger, VaultError, VaultOptions};
pub use retire::Retired;

use crate::config::Config;
use crate::entity::connection::{self, ConnectionApp, ConnectionStatus};
use crate::error::{Error, Result};
use crate::salesforce::SfClient;
use crate::security::crypto::Sealer;
use crate::time::Clock;
use crate::types::OrgId;
use crate::vault::store::aad;
use lease::Leases;

/// An access token is trusted until `session_timeout` minus this margin.
const FRESHNESS_MARGIN: chrono::Duration = chrono::Duration::minutes(5);

/// The vault: one per process, shared by the server and the worker.
#[derive(Clone)]
pub struct Vault {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    sf: SfClient,
    /// The legacy Connected App's client, when `[legacy]` names one.
    legacy_sf: Option<SfClient>,
    sealer: Sealer,
    config: Arc<Config>,
    clock: Clock,
    leases: Leases,
    opts: VaultOptions,
    /// One lock per connection: waiters in this process share one refresh.
    locks: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
    cache: cache::TokenCache,
    /// Every exchange in flight, so shutdown can wait for them and their writes.
    tracker: TaskTracker,
    /// Set once shutdown has begun: no new exchange starts.
    closing: AtomicBool,
    /// Tokens handed out, not yet written to `token_usage`.
    usage: usage::Usage,
    /// Group commit for each exchange's record and event (`journal`).
    journal: journal::Journal,
    /// The client secret last recorded as accepted (`persist::AcceptedSecrets`).
    accepted: persist::AcceptedSecrets,
}

impl Vault {
    /// Builds the vault. `owner` names this process in leases.
    pub fn new(
        db: DatabaseConnection,
        sf: SfClient,
        sealer: Sealer,
        config: Arc<Config>,
        clock: Clock,
        owner: &str,
    ) -> Self {
        Self::with_options(
            db,
            sf,
            sealer,
            config,
            clock,
            owner,
            VaultOptions::default(),
        )
    }

    /// Builds the vault from configuration, or `None` until `salesforce.client_id` and
    /// `crypto.keys` are configured.
    pub fn from_config(
        db: DatabaseConnection,
        config: Arc<Config>,
        clock: Clock,
        owner: &str,
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

    /// As `new`, with other timings (tests shorten them).
    pub fn with_options(
        db: DatabaseConnection,
        sf: SfClient,
        sealer: Sealer,
        config: Arc<Config>,
        clock: Clock,
        owner: &str,
        opts: VaultOptions,
    ) -> Self {
        // Lease writes get a pool of their own (when the database allows a second one).
        let lease_db = crate::db::lease_pool(&db).unwrap_or_else(|| db.clone());
        let leases = Leases::new(lease_db, owner, clock.clone(), opts.lease);
        // Configuration was validated when it was loaded; a legacy client that cannot be built
        // here means no legacy app, and its connections say so when they are exchanged.
        let legacy_sf = SfClient::legacy_from_config(&config).ok().flatten();
        let journal = journal::Journal::start(db.clone());
        let vault = Self {
            inner: Arc::new(Inner {
                db,
                sf,
                legacy_sf,
                sealer,
                config,
                clock,
                leases,
                opts,
                locks: Mutex::new(HashMap::new()),
                cache: cache::TokenCache::default(),
                tracker: TaskTracker::new(),
                closing: AtomicBool::new(false),
                usage: usage::Usage::default(),
                journal,
                accepted: persist::AcceptedSecrets::default(),
            }),
        };
        vault.listen_for_invalidations();
        vault.flush_usage_periodically();
        vault
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.inner.db
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn sealer(&self) -> &Sealer {
        &self.inner.sealer
    }

    pub fn sf(&self) -> &SfClient {
        &self.inner.sf
    }

    /// The legacy Connected App's client, when configured.
    pub fn legacy_sf(&self) -> Option<&SfClient> {
        self.inner.legacy_sf.as_ref()
    }

    /// The client that talks for a connection's app. `Err`: why there is none.
    pub(super) fn client_for(&self, app: ConnectionApp) -> std::result::Result<&SfClient, String> {
        match app {
            ConnectionApp::Eca => Ok(&self.inner.sf),
            ConnectionApp::Legacy => self.inner.legacy_sf.as_ref().ok_or_else(|| {
                "no legacy Connected App is configured (legacy.client_id)".to_owned()
            }),
        }
    }

    /// The connection rows' lease API, as this process.
    pub fn leases(&self) -> &Leases {
        &self.inner.leases
    }

    /// This process's name in leases.
    pub fn owner(&self) -> &str {
        self.inner.leases.owner()
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
        self.inner.cache.get(org, self.now())
    }

    /// Drops an org's cached token (a cut-over, a revocation).
    pub fn forget(&self, org: &str) {
        self.inner.cache.forget(org);
    }

    /// The connection the token API serves an org from: its best working credential — a working
    /// External Client App connection, else an activated legacy one — or, when neither works,
    /// the one whose state explains why (so the answer can say "consent again" or "held").
    async fn connection_for(&self, org: &OrgId) -> Result<Option<connection::Model>> {
        let rows = connection::Entity::find()
            .filter(connection::Column::OrgId.eq(org.as_str()))
            .filter(connection::Column::Status.is_in([
                ConnectionStatus::Active,
                ConnectionStatus::Refreshing,
                ConnectionStatus::NeedsReauth,
                ConnectionStatus::Quarantined,
                ConnectionStatus::Held,
            ]))
            .order_by_desc(connection::Column::Id)
            .all(&self.inner.db)
            .await?;
        Ok(serving(rows))
    }

    /// A usable access token for an org, refreshing through the vault when needed.
    #[tracing::instrument(skip_all, fields(org_id = %org))]
    pub async fn access_token(&self, org: &OrgId) -> Result<Answer> {
        if let Some(t) = self.cached(org) {
            return Ok(Ok(t));
        }
        // Read before choosing the connection: a cut-over after this makes the put below a no-op.
        let generation = self.inner.cache.generation(org);
        let Some(c) = self.connection_for(org).await? else {
            return Ok(Err(VaultError::NoConnection {
                org_id: org.clone(),
            }));
        };
        let deadline = tokio::time::Instant::now() + self.inner.opts.max_wait;
        let lock = self.lock_for(c.id);
        let Ok(_guard) = tokio::time::timeout_at(deadline, lock.lock()).await else {
            return Ok(Err(VaultError::Busy {
                org_id: org.clone(),
            }));
        };
        // Whoever held the lock before us may have refreshed: look again.
        if let Some(t) = self.cached(org) {
            return Ok(Ok(t));
        }
        let c = self.reload(c.id).await?;
        if let Some(t) = self.fresh_token(&c)? {
            self.inner.cache.put(&t, generation);
            return Ok(Ok(t));
        }
        let answer = self.refresh_locked(c.id, Trigger::Demand, deadline).await?;
        if let Ok(t) = &answer {
            self.inner.cache.put(t, generation);
        }
        Ok(answer)
    }

    /// A forced refresh after the partner saw a 401. If the rejected token is given and the current
    /// one is already newer, or the last exchange is within `heartbeat.min_gap`, the current
    /// token is returned without a new exchange (every exchange is a login in the customer's org).
    #[tracing::instrument(skip_all, fields(org_id = %org))]
    pub async fn force_refresh(&self, org: &OrgId, rejected: Option<&str>) -> Result<Answer> {
        let generation = self.inner.cache.generation(org);
        let Some(c) = self.connection_for(org).await? else {
            return Ok(Err(VaultError::NoConnection {
                org_id: org.clone(),
            }));
        };
        let deadline = tokio::time::Instant::now() + self.inner.opts.max_wait;
        let lock = self.lock_for(c.id);
        let Ok(_guard) = tokio::time::timeout_at(deadline, lock.lock()).await else {
            return Ok(Err(VaultError::Busy {
                org_id: org.clone(),
            }));
        };
        let c = self.reload(c.id).await?;
        if c.status == ConnectionStatus::Active
            && let Some(t) = self.decrypt_access(&c)?
        {
            let newer = rejected.is_some_and(|r| r != t.token.expose_secret());
            let gap =
                chrono::Duration::from_std(self.inner.config.heartbeat.min_gap).unwrap_or_default();
            if newer || self.now() - c.last_exchange_at < gap {
                self.inner.cache.put(&t, generation);
                return Ok(Ok(t));
            }
        }
        self.forget(org.as_str());
        let generation = self.inner.cache.generation(org);
        let answer = self.refresh_locked(c.id, Trigger::Forced, deadline).await?;
        if let Ok(t) = &answer {
            self.inner.cache.put(t, generation);
        }
        Ok(answer)
    }

    /// Refreshes one connection now (the heartbeat's entry point). A heartbeat refresh happens
    /// only if the connection is still due when its lease is taken.
    pub async fn refresh(&self, connection_id: i64, trigger: Trigger) -> Result<Answer> {
        let deadline = tokio::time::Instant::now() + self.inner.opts.max_wait;
        let lock = self.lock_for(connection_id);
        let _guard = if trigger == Trigger::Heartbeat {
            // This process is already refreshing it for someone: nothing for the heartbeat to do.
            match lock.try_lock() {
                Ok(g) => g,
                Err(_) => return self.busy(connection_id).await,
            }
        } else {
            match tokio::time::timeout_at(deadline, lock.lock()).await {
                Ok(g) => g,
                Err(_) => return self.busy(connection_id).await,
            }
        };
        self.refresh_locked(connection_id, trigger, deadline).await
    }

    async fn busy(&self, connection_id: i64) -> Result<Answer> {
        let c = self.reload(connection_id).await?;
        Ok(Err(VaultError::Busy {
            org_id: c.org_id.clone(),
        }))
    }

    /// A usable access token for one connection, whatever its status: the stored one while it
    /// is fresh, else a refresh (verification of a `verifying` connection uses this).
    pub async fn access_token_for(&self, connection_id: i64) -> Result<Answer> {
        let c = self.reload(connection_id).await?;
        if matches!(
            c.status,
            ConnectionStatus::Active | ConnectionStatus::Verifying
        ) && let Some(t) = self
            .decrypt_access(&c)?
            .filter(|t| t.fresh_until > self.now())
        {
            return Ok(Ok(t));
        }
        self.refresh(connection_id, Trigger::Verification).await
    }

    /// The connection's stored access token if it is still fresh, else `None`: never an exchange
    /// (the token-use monitor reads LoginHistory only with a token it already has).
    pub async fn fresh_access_for(&self, connection_id: i64) -> Result<Option<AccessToken>> {
        let c = self.reload(connection_id).await?;
        if c.status != ConnectionStatus::Active {
            return Ok(None);
        }
        Ok(self
            .decrypt_access(&c)?
            .filter(|t| t.fresh_until > self.now()))
    }

    /// The vault's clock.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// Stops starting exchanges and waits (at most `timeout`) for those in flight and their
    /// writes. Returns how many were still running when it gave up (0: all finished).
    pub async fn drain(&self, timeout: Duration) -> usize {
        self.inner.closing.store(true, Ordering::SeqCst);
        if let Err(e) = self.flush_usage().await {
            tracing::warn!(error = %e, "could not write the last token usage counts");
        }
        self.inner.tracker.close();
        let running = self.inner.tracker.len();
        if running > 0 {
            tracing::info!(running, "waiting for refreshes in flight to finish");
        }
        if tokio::time::timeout(timeout, self.inner.tracker.wait())
            .await
            .is_err()
        {
            let left = self.inner.tracker.len();
            tracing::error!(
                left,
                "shutdown: refreshes still in flight after {timeout:?}; their rotations may be lost"
            );
            return left;
        }
        0
    }

    /// How long `drain` should wait: one exchange, its probe, and its write.
    pub fn drain_timeout(&self) -> Duration {
        self.exchange_limit() * 2 + self.inner.opts.probe_delay + Duration::from_secs(10)
    }

    fn closing(&self) -> bool {
        self.inner.closing.load(Ordering::SeqCst)
    }

    /// The exchange's time limit: well inside the lease, so a lease never expires under a live
    /// exchange even if an extension is late.
    fn exchange_limit(&self) -> Duration {
        (self.inner.opts.lease / 3).min(self.inner.config.salesforce.http_timeout)
    }

    async fn reload(&self, id: i64) -> Result<connection::Model> {
        connection::Entity::find_by_id(id)
            .one(&self.inner.db)
            .await?
            .ok_or_else(|| Error::Internal(format!("connection {id} vanished")))
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
            .map_err(|e| Error::Internal(format!("connection {}: {e}", c.id)))?;
        Ok(Some(self.token(c, token, c.instance_url.clone(), at)?))
    }

    fn token(
        &self,
        c: &connection::Model,
        token: secrecy::SecretString,
        instance_url: String,
        at: DateTime<Utc>,
    ) -> Result<AccessToken> {
        let timeout = chrono::Duration::from_std(self.inner.config.salesforce.session_timeout)
            .unwrap_or_default();
        Ok(AccessToken {
            org_id: c.org_id.clone(),
            connection_id: c.id,
            app: c.app,
            sf_user_id: c.sf_user_id.clone(),
            token,
            instance_url,
            issued_at: at,
            fresh_until: at + timeout - FRESHNESS_MARGIN,
        })
    }

    fn fresh_token(&self, c: &connection::Model) -> Result<Option<AccessToken>> {
        if c.status != ConnectionStatus::Active {
            return Ok(None);
        }
        Ok(self
            .decrypt_access(c)?
            .filter(|t| t.fresh_until > self.now()))
    }
}

/// Whether the token API may serve from a connection (active, or active under a refresh).
fn works(c: &connection::Model) -> bool {
    c.status == ConnectionStatus::Active
        || (c.status == ConnectionStatus::Refreshing
            && lease::resting_status(c) == ConnectionStatus::Active)
}

/// The connection the token API serves an org from, among its rows: a working External Client
/// App connection, else a working legacy one (the org page marks it).
pub fn serving_connection(rows: &[connection::Model]) -> Option<&connection::Model> {
    let newest = |app| {
        rows.iter()
            .filter(|c| c.app == app && works(c))
            .max_by_key(|c| c.id)
    };
    newest(ConnectionApp::Eca).or_else(|| newest(ConnectionApp::Legacy))
}

/// Picks the connection to serve from an org's rows (newest first); see `connection_for`.
fn serving(rows: Vec<connection::Model>) -> Option<connection::Model> {
    let pick = |app: ConnectionApp, ok: &dyn Fn(&connection::Model) -> bool| {
        rows.iter().position(|c| c.app == app && ok(c))
    };
    let i = pick(ConnectionApp::Eca, &works)
        .or_else(|| pick(ConnectionApp::Legacy, &works))
        .or_else(|| {
            pick(ConnectionApp::Eca, &|c| {
                c.status != ConnectionStatus::Refreshing
            })
        })
        .or_else(|| pick(ConnectionApp::Legacy, &|_| true))
        .or_else(|| (!rows.is_empty()).then_some(0))?;
    rows.into_iter().nth(i)
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
