//! The token vault: the single owner of every refresh token.
//!
//! # The refresh protocol
//! A refresh claims a lease on the connection row ([`lease`]: a conditional UPDATE fenced by the
//! row's version, which also marks it `refreshing` — write-ahead), exchanges the stored refresh
//! token with a time limit well inside the lease while a keeper extends the lease, and persists
//! the answer with an UPDATE only the lease holder can make — retrying the write until it lands,
//! never the exchange. Waiters in one process share one in-flight refresh (a per-connection lock,
//! then a re-read); other processes wait for the lease — woken when it ends (`wake`) — and
//! re-read. The token API's refreshes are admitted per process, and every wait before a claim
//! is bounded by the caller's deadline (`admit`).
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

mod admit;
mod cache;
mod classify;
mod drain;
pub mod heartbeat;
mod incident;
mod invalidate;
mod journal;
pub mod lease;
mod legacy;
mod outcome;
mod persist;
mod persist_queue;
mod protocol;
mod reauth;
mod retire;
mod serve;
pub mod store;
mod stored;
mod sweep_claim;
mod usage;
mod wake;

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use tokio_util::task::TaskTracker;

pub use cache::{AccessToken, Cached};
pub use classify::{ErrorClass, classify};
pub use incident::{IncidentRevoke, REVOKED_NOW};
pub use legacy::{REVOKE_ALERT_AFTER, RevokeOutcome, revoke_backoff};
pub use outcome::{Answer, Trigger, VaultError, VaultOptions};
pub use retire::Retired;
pub use serve::serving_connection;
pub use wake::CHANNEL as LEASE_CHANNEL;

use crate::config::Config;
use crate::entity::connection::ConnectionApp;
use crate::error::Result;
use crate::salesforce::SfClient;
use crate::security::crypto::Sealer;
use crate::time::Clock;
use crate::types::OrgId;
use lease::Leases;

/// The per-connection lock map is pruned of unused locks when a new entry would take it past a
/// power of two from this size on (amortised: each pruning follows as many insertions).
const LOCKS_PRUNE_AT: usize = 1024;

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
    /// Group commit for each exchange's record (`journal`).
    journal: journal::Journal,
    /// Group commit for the persists of the moment (`persist_queue`).
    persists: persist_queue::PersistQueue,
    /// The client secret last recorded as accepted (`persist::AcceptedSecrets`).
    accepted: persist::AcceptedSecrets,
    /// Token-API answers that missed `api.deadline` (their work went on in the background).
    deadline_missed: std::sync::atomic::AtomicU64,
    /// Permits for the token API's refreshes (`admit`).
    admission: admit::Admission,
}

impl Vault {
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
        let opts = VaultOptions::default();
        Ok(Some(Self::with_options(
            db, sf, sealer, config, clock, owner, opts,
        )))
    }

    /// Builds the vault with `opts`' timings (tests shorten them). `owner` names this process in
    /// leases.
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
        let persists = persist_queue::PersistQueue::start(leases.clone());
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
                persists,
                accepted: persist::AcceptedSecrets::default(),
                deadline_missed: std::sync::atomic::AtomicU64::new(0),
                admission: admit::Admission::default(),
            }),
        };
        vault.inner.leases.wake().listen(&vault.inner.db);
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
        if locks.len() >= LOCKS_PRUNE_AT
            && locks.len().is_power_of_two()
            && !locks.contains_key(&id)
        {
            // A lock only the map holds is held and awaited by nobody (a clone is taken only
            // under this mutex): dropping it is safe, and keeps the map at the connections
            // in use rather than every connection ever refreshed (100,000 after one sweep).
            locks.retain(|_, l| Arc::strong_count(l) > 1);
        }
        locks.entry(id).or_default().clone()
    }

    /// A cached, still-fresh access token for an org (no database, no Salesforce).
    pub fn cached(&self, org: &OrgId) -> Option<AccessToken> {
        self.cached_shared(org).map(|c| c.token.clone())
    }

    /// As [`Self::cached`], sharing the cached token instead of copying it: the token API's
    /// hot path.
    pub fn cached_shared(&self, org: &OrgId) -> Option<Arc<Cached>> {
        self.inner.cache.get(org, self.now())
    }

    /// Drops an org's cached token (a cut-over, a revocation).
    pub fn forget(&self, org: &str) {
        self.inner.cache.forget(org);
    }

    /// The vault's clock.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }
}

/// `interval` minus up to 5% at random, so connections made together spread out and none
/// exceeds the interval.
pub fn jittered(interval: Duration) -> chrono::Duration {
    let full = chrono::Duration::from_std(interval).unwrap_or_else(|_| chrono::Duration::days(25));
    let spread = full.num_seconds() / 20;
    full - chrono::Duration::seconds(if spread > 0 { rand_secs(spread) } else { 0 })
}

/// The next batch of a group writer (`journal`, `sweep_claim`, `persist_queue`): waits for one
/// item, then takes whatever else is already waiting, up to `max` in all; `None` once every
/// sender is gone and nothing is left.
async fn next_batch<T>(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<T>,
    max: usize,
) -> Option<Vec<T>> {
    let first = rx.recv().await?;
    let mut batch = vec![first];
    while batch.len() < max {
        match rx.try_recv() {
            Ok(item) => batch.push(item),
            Err(_) => break,
        }
    }
    Some(batch)
}

fn rand_secs(max: i64) -> i64 {
    use rand::Rng;
    rand::thread_rng().gen_range(0..=std::cmp::max(max, 0))
}
