//! Shutdown: no new exchange starts, and those in flight (and their writes) are awaited.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Vault;

impl Vault {
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

    pub(super) fn closing(&self) -> bool {
        self.inner.closing.load(Ordering::SeqCst)
    }

    /// The exchange's time limit: well inside the lease, so a lease never expires under a live
    /// exchange even if an extension is late.
    pub(super) fn exchange_limit(&self) -> Duration {
        (self.inner.opts.lease / 3).min(self.inner.config.salesforce.http_timeout)
    }
}
