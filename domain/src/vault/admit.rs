//! Admission of the token API's refreshes: how many run at once in one process, and how long a
//! caller may wait for its turn.
//!
//! # Why
//! A refresh's database statements run on small pools: the row reads on the main pool
//! (16 connections on PostgreSQL), the claim, the lease extensions and the persist on the
//! vault's lease pool (`crate::db::lease_pool`, 6 connections), each with sqlx's 30 s acquire
//! time-out. With 200 callers forcing refreshes at once, every one of them queued inside those
//! pools, where nothing bounds the wait by the caller's deadline: a claim waited up to 30 s
//! (BENCHMARKS.md, "Token API under contention"), and the call missed `api.deadline`.
//!
//! # What
//! Every token-API call that misses the cache first takes one of [`DEMAND_IN_FLIGHT`] permits
//! of its process, waiting in this process — in order, touching no database — at most until
//! its give-up instant ([`super::Vault::give_up_by`]: `max_wait`, and never more than what
//! `api.deadline` leaves once an exchange and a probe of `salesforce.http_timeout` each have
//! their room, or a quarter of the deadline if that is more). A caller not admitted by then answers `busy` (503 with `Retry-After`)
//! within its deadline; an admitted one meets pools that at most [`DEMAND_IN_FLIGHT`] refreshes
//! of this process share, so its statements wait behind a few others, not behind 200. The
//! rest of the deadline is left for the refresh itself (the claim, the exchange, the
//! persist). Every wait a refresh makes before its claim — the permit, this process's lock on
//! the connection, another holder's lease — gives up at the same instant.
//!
//! The permit is held from the first read to the answer, including an exchange. A call whose
//! token is cached takes none: it touches no database and never waits behind a refresh.
//!
//! # How many
//! [`DEMAND_IN_FLIGHT`] = 16: the main pool's size. Each admitted
//! refresh makes two to four main-pool reads and two lease-pool writes around an exchange that
//! holds no connection, so 16 in flight keep both pools busy without a deep queue. Measured with
//! the kill test (8 worker processes, 200 callers forcing refreshes over 1,000 connections,
//! PostgreSQL, load average 12–17 on 2 cores; 2026-12-02): without permits 73 answers missed the
//! 15 s deadline (slowest 16.6 s); 64 permits: 17 misses, slowest 16.8 s (the pool queues
//! again); 16: none (slowest 9.4 s and 13.8 s in two runs); 4: none, but 908 `busy` answers
//! against 305 at 16. Giving up at a third of the deadline instead of half also missed none but
//! answered `busy` 854 times. (Those runs had a lease pool of 4; it is 6 since the heartbeat's
//! persists are grouped, for their writers.) Enlarging the lease pool to fit the callers instead
//! was not chosen: on PostgreSQL every process's pools count against `max_connections` (100 by
//! default; the kill test runs nine processes), and a larger pool only moves the unbounded queue
//! into the database.

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
    /// [`api_wait`] of `api.deadline`, leaving the rest to the refresh itself.
    pub(super) fn give_up_by(&self, deadline: bool) -> tokio::time::Instant {
        let wait = if deadline {
            self.inner.opts.max_wait.min(api_wait(
                self.inner.config.api.deadline,
                self.inner.config.salesforce.http_timeout,
            ))
        } else {
            self.inner.opts.max_wait
        };
        tokio::time::Instant::now() + wait
    }
}

/// How long a token-API call may wait before its claim: what `deadline` leaves once the refresh
/// that follows has its room — an exchange and a probe, each up to `http_timeout`, and a second
/// for the claim and the persist — but at least a quarter of the deadline. (Half the deadline,
/// as it was, left 7.5 s of a 15 s deadline to an exchange and a probe of 5 s each: the SIGKILL
/// test saw an answer at 15.25 s.)
fn api_wait(
    deadline: std::time::Duration,
    http_timeout: std::time::Duration,
) -> std::time::Duration {
    let refresh = http_timeout * 2 + std::time::Duration::from_secs(1);
    deadline.saturating_sub(refresh).max(deadline / 4)
}

#[cfg(test)]
mod tests {
    use super::api_wait;
    use std::time::Duration;

    #[test]
    fn the_wait_leaves_the_refresh_an_exchange_and_a_probe_within_the_deadline() {
        let s = Duration::from_secs;
        // The SIGKILL test's settings: 15 s deadline, 5 s calls: wait at most 4 s.
        assert_eq!(api_wait(s(15), s(5)), s(4));
        assert!(api_wait(s(15), s(5)) + s(5) * 2 < s(15));
        // Calls allowed longer than the deadline (the defaults, 15 s and 20 s): a quarter.
        assert_eq!(api_wait(s(15), s(20)), Duration::from_millis(3750));
        // Short calls: most of the deadline is there to wait in.
        assert_eq!(api_wait(s(15), s(2)), s(10));
    }
}
