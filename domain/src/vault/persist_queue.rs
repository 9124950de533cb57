//! Group commit for persists: the rotated tokens of every refresh that finishes at the same
//! moment are stored with one commit ([`Leases::persist_all`]), so a heartbeat with hundreds
//! of refreshes in flight pays one commit for many of them instead of one each — the commit
//! (a WAL flush on both backends) was the heartbeat's limit on PostgreSQL.
//!
//! Nothing about a persist changes but when it commits: each row keeps its own fence and its own
//! answer (`lease::persist_group`); a persist that finds the queue idle is written at once,
//! alone; a caller that gave up waiting (its write attempt timed out, and it writes again) is left
//! out of the next batch, so a stale copy is never written after the caller moved on; and a
//! batch that fails is written again row by row, so one bad row fails only its own caller.

use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};

use super::lease::{Lease, Leases, Persist};
use crate::error::{Error, Result};

/// Most persists in one group.
const MAX_ROWS: usize = 128;
/// Batches written at once on PostgreSQL, each on a connection of the lease pool
/// (`db::LEASE_POOL`, 6: the heartbeat's claims and the keepers' extensions keep the others).
/// With hundreds of refreshes in flight the heartbeat waits on these writes, not on the machine
/// (with two writers both cores were half idle), so more batches in flight is more refreshes per
/// second. SQLite has one writer at a time: a second batch would only wait for the lock (in
/// SQLite's busy handler, which sleeps), so there one batch is written at a time.
const PG_WRITERS: usize = 4;

type Reply = oneshot::Sender<std::result::Result<bool, String>>;
type Item = (Lease, Persist, Reply);

/// The vault's persist writers.
pub(super) struct PersistQueue {
    tx: mpsc::UnboundedSender<Item>,
}

impl PersistQueue {
    /// Starts the writers; they end when the queue is dropped, after writing what was queued.
    pub(super) fn start(leases: Leases) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let rx = Arc::new(Mutex::new(rx));
        let writers = match leases.backend() {
            sea_orm::DatabaseBackend::Postgres => PG_WRITERS,
            _ => 1,
        };
        for _ in 0..writers {
            tokio::spawn(write_loop(leases.clone(), rx.clone()));
        }
        Self { tx }
    }

    /// Stores `p` under `lease` (as [`Leases::persist`]), committed with whatever other persists
    /// are waiting. `false`: the lease is no longer ours and nothing was written.
    pub(super) async fn persist(&self, lease: &Lease, p: &Persist) -> Result<bool> {
        let stopped = || Error::Internal("the vault's persist writer has stopped".into());
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((lease.clone(), p.clone(), reply))
            .map_err(|_| stopped())?;
        answer
            .await
            .map_err(|_| stopped())?
            .map_err(Error::Internal)
    }
}

async fn write_loop(leases: Leases, rx: Arc<Mutex<mpsc::UnboundedReceiver<Item>>>) {
    loop {
        let batch = {
            let mut rx = rx.lock().await;
            match super::next_batch(&mut rx, MAX_ROWS).await {
                Some(batch) => batch,
                None => return,
            }
        };
        write(&leases, batch).await;
    }
}

/// Writes a batch with one commit (or alone, or row by row after a failure) and answers each
/// caller still waiting.
async fn write(leases: &Leases, batch: Vec<Item>) {
    let (items, replies): (Vec<_>, Vec<_>) = batch
        .into_iter()
        .filter(|(_, _, reply)| !reply.is_closed())
        .map(|(lease, p, reply)| ((lease, p), reply))
        .unzip();
    if items.len() > 1 {
        match leases.persist_all(&items).await {
            Ok(landed) => {
                for (reply, ok) in replies.into_iter().zip(landed) {
                    reply.send(Ok(ok)).ok();
                }
                return;
            }
            Err(e) => tracing::warn!(
                rows = items.len(),
                error = %e,
                "storing a group of refreshed tokens failed; writing them one by one"
            ),
        }
    }
    for ((lease, p), reply) in items.iter().zip(replies) {
        let r = leases.persist(lease, p).await.map_err(|e| e.to_string());
        reply.send(r).ok();
    }
}
