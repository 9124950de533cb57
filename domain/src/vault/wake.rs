//! Waking the waiters for another holder's lease when it ends, instead of polling the row.
//!
//! A caller that finds a connection leased by someone else waits for that lease to end
//! ([`super::Vault::wait_for_lease`]). Every lease-ending write ([`super::lease::Leases`]'s
//! persist, release, mark, transition, verification failure) goes through [`exec_ending`],
//! which wakes the waiters:
//!
//! - **in this process**, at once: one `tokio::sync::watch` channel per connection that has a
//!   waiter ([`Wake::subscribe`]), bumped when a lease-ending write of this process lands;
//! - **across processes on PostgreSQL**, by `LISTEN/NOTIFY`: the lease-ending UPDATE is sent as
//!   `WITH ended AS (UPDATE … RETURNING id) SELECT pg_notify('reauth_lease', id) FROM ended`,
//!   so the notification is part of the statement that ends the lease and is delivered when it
//!   commits (never for a write that matched nothing, never before the row changed). One
//!   listener connection per process ([`Wake::listen`], a pool of one connection of its own)
//!   fans the notifications out to the watch channels. A notification lost while that
//!   connection was down wakes every waiter, who re-read their rows;
//! - **on SQLite across processes** (or while the listener is down) there is nothing to listen
//!   to: waiters poll their row with a back-off (25 ms doubling to 500 ms).
//!
//! A waiter subscribes before it re-reads its row, so a lease that ends between the failed claim
//! and the subscription is seen by that read, and one that ends after it wakes the channel.
//! While the listener is up, a waiter still re-reads its row every [`SAFETY_POLL`] (a lease
//! whose holder died ends by running out, which no one announces).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, Statement};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::error::Result;

/// The channel lease-ending writes notify on PostgreSQL (the payload is the connection id).
pub const CHANNEL: &str = "reauth_lease";

/// How often a waiter re-reads its row while notifications reach this process.
pub(super) const SAFETY_POLL: Duration = Duration::from_secs(1);
/// The first and the longest pause between a waiter's reads when nothing can wake it.
const POLL_FIRST: Duration = Duration::from_millis(25);
const POLL_MAX: Duration = Duration::from_millis(500);

/// The waiters of one process, by connection id.
#[derive(Clone, Default)]
pub struct Wake {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// One channel per connection some caller waits on; the value counts lease ends seen.
    waiting: Mutex<HashMap<i64, watch::Sender<u64>>>,
    /// The PostgreSQL listener is connected and listening.
    listening: AtomicBool,
    /// Stops the listener when the vault goes away.
    stop: CancellationToken,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A waiter's subscription: wakes when a lease on its connection ends. Dropping it forgets the
/// channel once no one else waits on the connection.
pub(super) struct Waiter {
    rx: Option<watch::Receiver<u64>>,
    id: i64,
    wake: Wake,
    poll: Duration,
}

impl Wake {
    fn waiting(&self) -> std::sync::MutexGuard<'_, HashMap<i64, watch::Sender<u64>>> {
        self.inner
            .waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts waiting for lease ends on connection `id`.
    pub(super) fn subscribe(&self, id: i64) -> Waiter {
        let rx = self
            .waiting()
            .entry(id)
            .or_insert_with(|| watch::channel(0).0)
            .subscribe();
        Waiter {
            rx: Some(rx),
            id,
            wake: self.clone(),
            poll: POLL_FIRST,
        }
    }

    /// A lease on connection `id` ended: wakes its waiters in this process.
    pub fn ended(&self, id: i64) {
        if let Some(tx) = self.waiting().get(&id) {
            tx.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Wakes every waiter (notifications may have been lost): each re-reads its row.
    fn wake_all(&self) {
        for tx in self.waiting().values() {
            tx.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Whether lease ends of other processes reach this one (the PostgreSQL listener is up).
    pub fn listening(&self) -> bool {
        self.inner.listening.load(Ordering::Relaxed)
    }

    /// On PostgreSQL, starts this process's listener: one connection of its own, `LISTEN
    /// reauth_lease`, each notification waking that connection's waiters. It stops when the
    /// vault is dropped. Elsewhere (SQLite) nothing: waiters poll.
    pub(super) fn listen(&self, db: &DatabaseConnection) {
        if db.get_database_backend() != DatabaseBackend::Postgres {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        use sea_orm::sqlx::postgres::PgPoolOptions;
        let options = (*db.get_postgres_connection_pool().connect_options()).clone();
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_lazy_with(options);
        let (weak, stop) = (Arc::downgrade(&self.inner), self.inner.stop.clone());
        rt.spawn(async move {
            tokio::select! {
                () = listen_loop(pool, weak) => {}
                () = stop.cancelled() => {}
            }
        });
    }
}

/// The listener: connects, listens, fans out; on any failure wakes everyone, waits, reconnects.
async fn listen_loop(pool: sea_orm::sqlx::PgPool, weak: Weak<Inner>) {
    use sea_orm::sqlx::postgres::PgListener;
    let mut pause = Duration::from_millis(100);
    loop {
        let connected = async {
            let mut l = PgListener::connect_with(&pool).await?;
            l.listen(CHANNEL).await?;
            Ok::<_, sea_orm::sqlx::Error>(l)
        }
        .await;
        let Some(inner) = weak.upgrade() else { return };
        let wake = Wake { inner };
        let mut listener = match connected {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for lease ends; waiters poll meanwhile");
                drop(wake);
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        pause = Duration::from_millis(100);
        wake.inner.listening.store(true, Ordering::Relaxed);
        // Anything that ended while we were not listening is only seen by a read.
        wake.wake_all();
        drop(wake);
        loop {
            // Wait without keeping the vault alive (dropping it cancels this task); look its
            // waiters up per notification.
            let got = listener.try_recv().await;
            let Some(inner) = weak.upgrade() else { return };
            let wake = Wake { inner };
            match got {
                Ok(Some(n)) => match n.payload().parse::<i64>() {
                    Ok(id) => wake.ended(id),
                    Err(_) => tracing::warn!(
                        payload = n.payload(),
                        "a lease notification without a connection id"
                    ),
                },
                // The connection dropped and came back: what was sent meanwhile is lost.
                Ok(None) => wake.wake_all(),
                Err(e) => {
                    tracing::warn!(error = %e, "the lease listener failed; reconnecting");
                    wake.inner.listening.store(false, Ordering::Relaxed);
                    wake.wake_all();
                    break;
                }
            }
        }
    }
}

impl Waiter {
    /// Waits until a lease on the connection ends (as far as this process can tell), or the
    /// time for the next read comes, or `until`. Nothing is read here.
    pub(super) async fn wait(&mut self, until: tokio::time::Instant) {
        let pause = if self.wake.listening() {
            SAFETY_POLL
        } else {
            let p = self.poll;
            self.poll = (self.poll * 2).min(POLL_MAX);
            p
        };
        let at = (tokio::time::Instant::now() + pause).min(until);
        let Some(rx) = self.rx.as_mut() else {
            tokio::time::sleep_until(at).await;
            return;
        };
        // A closed channel cannot be: the map keeps the sender while we hold a receiver.
        let _ = tokio::time::timeout_at(at, rx.changed()).await;
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        drop(self.rx.take());
        let mut waiting = self.wake.waiting();
        if waiting
            .get(&self.id)
            .is_some_and(|tx| tx.receiver_count() == 0)
        {
            waiting.remove(&self.id);
        }
    }
}

/// Runs a lease-ending UPDATE (one whose filter is the holder's fence) and wakes the row's
/// waiters: in this process at once, and on PostgreSQL every other process by a `pg_notify`
/// made by the same statement. Returns the rows it changed (0 or 1).
pub(super) async fn exec_ending<E: EntityTrait>(
    db: &DatabaseConnection,
    wake: &Wake,
    id: i64,
    q: sea_orm::UpdateMany<E>,
) -> Result<u64> {
    let rows = exec_ending_on(db, q).await?;
    if rows > 0 {
        wake.ended(id);
    }
    Ok(rows)
}

/// As [`exec_ending`], on any connection (a transaction: its `pg_notify` is sent when it
/// commits) and without waking this process's waiters — the caller wakes them once the write is
/// committed.
pub(super) async fn exec_ending_on<C: ConnectionTrait, E: EntityTrait>(
    db: &C,
    q: sea_orm::UpdateMany<E>,
) -> Result<u64> {
    use sea_orm::QueryTrait as _;
    Ok(match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            let stmt = ending_statement(q.build(DatabaseBackend::Postgres), "", Vec::new());
            db.query_all_raw(stmt).await?.len() as u64
        }
        _ => q.exec(db).await?.rows_affected,
    })
}

/// A lease-ending UPDATE as PostgreSQL runs it: `WITH ended AS (<update> RETURNING id)<also>
/// SELECT pg_notify(…) FROM ended`, one row per row it changed. `also` — more data-modifying
/// `WITH` items reading `ended`, run in the same statement — takes `extra` as its parameters,
/// numbered after the update's.
pub(super) fn ending_statement(
    update: Statement,
    also: &str,
    extra: Vec<sea_orm::Value>,
) -> Statement {
    let sql = format!(
        "WITH ended AS ({} RETURNING id){also} SELECT pg_notify('{CHANNEL}', id::text) FROM ended",
        update.sql
    );
    let mut values = update.values.map(|v| v.0).unwrap_or_default();
    values.extend(extra);
    Statement::from_sql_and_values(DatabaseBackend::Postgres, sql, values)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use tokio::time::Instant;

    use super::Wake;

    /// A process whose listener is up: a waiter's own reads are a second apart.
    fn listening() -> Wake {
        let wake = Wake::default();
        wake.inner.listening.store(true, Ordering::Relaxed);
        wake
    }

    #[tokio::test]
    async fn a_lease_end_wakes_its_waiter_before_its_next_read() {
        let wake = listening();
        let mut waiter = wake.subscribe(7);
        let other = wake.clone();
        tokio::spawn(async move { other.ended(7) });
        let started = Instant::now();
        waiter.wait(started + Duration::from_secs(10)).await;
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "woken by its 1 s poll instead: {:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_lease_end_of_another_connection_wakes_no_one() {
        let wake = listening();
        let mut waiter = wake.subscribe(7);
        wake.ended(8);
        let started = Instant::now();
        waiter.wait(started + Duration::from_millis(300)).await;
        assert!(started.elapsed() >= Duration::from_millis(290));
    }

    #[tokio::test]
    async fn without_a_listener_a_waiter_reads_again_after_a_backed_off_pause() {
        let wake = Wake::default();
        let mut waiter = wake.subscribe(7);
        let far = Instant::now() + Duration::from_secs(10);
        let mut pauses = Vec::new();
        for _ in 0..6 {
            let t = Instant::now();
            waiter.wait(far).await;
            pauses.push(t.elapsed());
        }
        // 25 ms doubling to 500 ms (a timer may fire late, never early).
        for (got, want) in pauses.iter().zip([25, 50, 100, 200, 400, 500]) {
            assert!(*got >= Duration::from_millis(want), "{pauses:?}");
        }
        assert!(pauses[5] < Duration::from_millis(800), "capped: {pauses:?}");
    }

    #[tokio::test]
    async fn the_channel_is_forgotten_when_its_last_waiter_goes() {
        let wake = Wake::default();
        let (a, b) = (wake.subscribe(7), wake.subscribe(7));
        drop(a);
        assert_eq!(wake.waiting().len(), 1);
        drop(b);
        assert!(wake.waiting().is_empty());
        // An end with no one waiting leaves nothing behind.
        wake.ended(7);
        assert!(wake.waiting().is_empty());
    }
}
