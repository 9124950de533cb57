//! Admission of the token API's refreshes: how many run at once in one process, and how long a
//! caller may wait for its turn.
//!
//! # Why
//! A refresh's database statements run on small pools: the row reads on the main pool
//! (16 connections on PostgreSQL), the claim, the lease extensions and the persist on the
//! vault's lease pool (`crate::db::lease_pool`, 4 connections), each with sqlx's 30 s acquire
//! time-out. With 200 callers forcing refreshes at once, every one of them queued inside those
//! pools, where nothing bounds the wait by the caller's deadline: a claim waited up to 30 s
//! (BENCHMARKS.md, "Token API under contention"), and the call missed `api.deadline`.
//!
//! # What
//! Every token-API call that misses the cache first takes one of [`DEMAND_IN_FLIGHT`] permits
//! of its process, waiting in this process — in order, touching no database — at most until
//! its give-up instant ([`super::Vault::give_up_by`]: `max_wait`, and never more than half of
//! `api.deadline`). A caller not admitted by then answers `busy` (503 with `Retry-After`)
//! within its deadline; an admitted one meets pools that at most [`DEMAND_IN_FLIGHT`] refreshes
//! of this process share, so its statements wait behind a few others, not behind 200. The
//! other half of the deadline is left for the refresh itself (the claim, the exchange, the
//! persist). Every wait a refresh makes before its claim — the permit, this process's lock on
//! the connection, another holder's lease — gives up at the same instant.
//!
//! The permit is held from the first read to the answer, including an exchange. A call whose
//! token is cached takes none: it touches no database and never waits behind a refresh.
//!
//! # How many
//! [`DEMAND_IN_FLIGHT`] = 16: the main pool's size, four times the lease pool's. Each admitted
//! refresh makes two to four main-pool reads and two lease-pool writes around an exchange that
//! holds no connection, so 16 in flight keep both pools busy without a deep queue. Measured with
//! the kill test (8 worker processes, 200 callers forcing refreshes over 1,000 connections,
//! PostgreSQL, load average 12–17 on 2 cores; 2026-12-02): without permits 73 answers missed the
//! 15 s deadline (slowest 16.6 s); 64 permits: 17 misses, slowest 16.8 s (the pool queues
//! again); 16: none (slowest 9.4 s and 13.8 s in two runs); 4: none, but 908 `busy` answers
//! against 305 at 16. Giving up at a third of the deadline instead of half also missed none but
//! answered `busy` 854 times. Enlarging
//! the lease pool instead was not chosen: on PostgreSQL every process's pools count against
//! `max_connections` (100 by default; the kill test runs nine processes), and a larger pool only
//! moves the unbounded queue into the database.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::Vault;

/// How many token-API refreshes (and their reads) one process runs at once.
pub const DEMAND_IN_FLIGHT: usize = 16;

/// The permits of one process.
pub(super) struct Admission(Arc<Semaphore>);

impl Default for Admission {
    fn default() -> Self {
        Self(Arc::new(Semaphore::new(DEMAND_IN_FLIGHT)))
    }
}

impl Vault {
    /// Waits for a permit to run a token-API refresh, at most until `give_up`. `None`: not
    /// admitted in time (the caller answers `busy`).
    pub(super) async fn admit(
        &self,
        give_up: tokio::time::Instant,
    ) -> Option<OwnedSemaphorePermit> {
        let permits = self.inner.admission.0.clone();
        match tokio::time::timeout_at(give_up, permits.acquire_owned()).await {
            Ok(Ok(p)) => Some(p),
            // Never closed; a timeout means the queue did not move in time.
            _ => {
                metrics::counter!("reauth_api_not_admitted_total").increment(1);
                None
            }
        }
    }

    /// When a token-API call that starts now gives up waiting (for a permit, this process's
    /// lock on the connection, another holder's lease): after `max_wait`, and never later than
    /// half of `api.deadline`, leaving the other half to the refresh itself.
    pub(super) fn give_up_by(&self, deadline: bool) -> tokio::time::Instant {
        let wait = if deadline {
            self.inner
                .opts
                .max_wait
                .min(self.inner.config.api.deadline / 2)
        } else {
            self.inner.opts.max_wait
        };
        tokio::time::Instant::now() + wait
    }
}
