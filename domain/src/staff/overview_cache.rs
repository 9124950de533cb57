//! The overview's figures, shared by every staff user for a few seconds.
//!
//! The overview is a dozen aggregates over every org, connection and alert (tens of
//! milliseconds of database work at 100,000 orgs) and every staff user sees the same numbers, so
//! one computation serves all of them until it is `max_age` old. Concurrent requests for a stale
//! overview wait for one computation rather than each running their own (single flight). A
//! staff action in this process calls [`OverviewCache::invalidate`], so people see their own
//! changes at once; changes made elsewhere (the worker, another server) show within `max_age`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use tokio::time::Instant;

use super::dashboard::{Overview, overview};
use crate::error::Result;

/// How long the overview's figures are reused, unless a staff action invalidates them.
pub const OVERVIEW_MAX_AGE: Duration = Duration::from_secs(5);

/// Figures computed at `computed`, valid while no invalidation moved past `generation`.
struct Entry {
    computed: Instant,
    generation: u64,
    overview: Arc<Overview>,
}

/// The shared overview (one per process).
pub struct OverviewCache {
    max_age: Duration,
    generation: AtomicU64,
    entry: RwLock<Option<Entry>>,
    /// Held while one request computes, so the others wait for its result.
    computing: tokio::sync::Mutex<()>,
}

impl Default for OverviewCache {
    fn default() -> Self {
        Self::new(OVERVIEW_MAX_AGE)
    }
}

impl OverviewCache {
    pub fn new(max_age: Duration) -> Self {
        Self {
            max_age,
            generation: AtomicU64::new(0),
            entry: RwLock::new(None),
            computing: tokio::sync::Mutex::new(()),
        }
    }

    /// Forgets the figures: the next request computes them again. Cheap; call it after any
    /// change a staff user made.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The overview at `now`, computed at most `max_age` ago and after the last invalidation.
    pub async fn get<C: ConnectionTrait>(
        &self,
        db: &C,
        now: DateTime<Utc>,
        idle_timeout: Duration,
    ) -> Result<Arc<Overview>> {
        if let Some(o) = self.fresh() {
            return Ok(o);
        }
        let _one = self.computing.lock().await;
        // Another request may have computed it while this one waited.
        if let Some(o) = self.fresh() {
            return Ok(o);
        }
        // Read the generation before the queries: an invalidation during them leaves the
        // entry already stale, so the change it announced is never hidden.
        let generation = self.generation.load(Ordering::Acquire);
        let computed = Instant::now();
        let overview = Arc::new(overview(db, now, idle_timeout).await?);
        *self.entry.write().unwrap_or_else(|e| e.into_inner()) = Some(Entry {
            computed,
            generation,
            overview: overview.clone(),
        });
        Ok(overview)
    }

    fn fresh(&self) -> Option<Arc<Overview>> {
        let entry = self.entry.read().unwrap_or_else(|e| e.into_inner());
        let e = entry.as_ref()?;
        (e.generation == self.generation.load(Ordering::Acquire)
            && e.computed.elapsed() < self.max_age)
            .then(|| e.overview.clone())
    }
}
