//! The one fenced write API for connection rows.
//!
//! Every change to a connection after it is inserted goes through a [`Lease`]: [`Leases::claim`]
//! takes it with a conditional UPDATE (the row's `version` as a fence, and only when no live
//! lease is on it), and [`Leases::extend`], [`Leases::persist`], [`Leases::release`] and
//! [`Leases::mark`] are UPDATEs that match only while the holder's `version` and owner are still
//! on the row. Each of them checks `rows_affected` and says what a miss means, so a write that
//! lost its lease is never mistaken for one that landed.
//!
//! Lease expiry is judged by one clock for every process: the database's (`CURRENT_TIMESTAMP`
//! on PostgreSQL; SQLite is one file on one host, whose clock every process shares), or a
//! test's injected clock.
//!
//! The writes that end a lease with a verdict ([`Leases::mark`], [`Leases::transition`],
//! [`Leases::verification_failed`]) are in `verdict`; the heartbeat's many-row claim
//! ([`Leases::claim_due`]) in `claim_page`; a persist and the event it writes with the token
//! ([`Leases::persist`]) in `persist`; many persists in one commit ([`Leases::persist_all`]) in
//! `persist_group`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, SimpleExpr};
use sea_orm::{
    ColumnTrait, Condition, DatabaseBackend, DatabaseConnection, EntityTrait, QueryFilter,
};

use crate::entity::connection::{self, ConnectionStatus, ErrorClass};
use crate::error::{Error, Result};
use crate::security::crypto::Sealed;
use crate::time::Clock;

mod claim_page;
mod persist;
mod persist_group;
mod verdict;

pub use persist::{Persist, RefreshedEvent};
pub use verdict::{Mark, Transition};

/// A held lease on one connection row.
#[derive(Debug, Clone)]
pub struct Lease {
    pub id: i64,
    /// The row's version while the lease is held: every fenced write matches it.
    pub version: i64,
    owner: Arc<str>,
    /// What the lease is for.
    pub purpose: Purpose,
    /// The status the row returns to when the lease ends without a verdict.
    pub resting: ConnectionStatus,
}

/// What a lease is taken for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A refresh-token exchange: the row is marked `refreshing` first (write-ahead), so a lease
    /// that runs out in that state is known to have died mid-rotation.
    Exchange,
    /// A change that sends nothing to Salesforce's token endpoint with the row's token before
    /// it is recorded (promotion after verification, supersede, revoke): the status stays.
    Admin,
}

/// The outcome of a claim.
#[derive(Debug)]
pub enum Claim {
    /// The lease is ours.
    Taken(Lease),
    /// Someone else holds a live lease until `until`.
    Held { until: Option<DateTime<Utc>> },
    /// The row changed since it was read: read it again.
    Moved,
    /// A heartbeat claim found the row no longer due (another sweep refreshed it).
    NotDue,
}

/// The connection rows' lease API, bound to one process's identity.
#[derive(Clone)]
pub struct Leases {
    db: DatabaseConnection,
    owner: Arc<str>,
    clock: Clock,
    lease: Duration,
    /// Wakes the waiters when a lease ends (`super::wake`).
    wake: super::wake::Wake,
}

impl Leases {
    pub fn new(db: DatabaseConnection, owner: &str, clock: Clock, lease: Duration) -> Self {
        Self {
            db,
            owner: owner.into(),
            clock,
            lease,
            wake: super::wake::Wake::default(),
        }
    }

    /// The waiters for this process's view of lease ends.
    pub(super) fn wake(&self) -> &super::wake::Wake {
        &self.wake
    }

    /// The database the leases are written to.
    pub(super) fn backend(&self) -> DatabaseBackend {
        self.db.get_database_backend()
    }

    /// How long a lease lasts between extensions.
    pub fn duration(&self) -> Duration {
        self.lease
    }

    /// This process's name in leases.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The lease clock's "now", as an SQL expression.
    pub fn now_expr(&self) -> SimpleExpr {
        self.later_expr(Duration::ZERO)
    }

    /// The lease clock's "now + d", as an SQL expression.
    fn later_expr(&self, d: Duration) -> SimpleExpr {
        if self.clock.is_injected() || self.db.get_database_backend() != DatabaseBackend::Postgres {
            let d = chrono::Duration::from_std(d).unwrap_or_default();
            Expr::value(self.clock.now() + d)
        } else {
            Expr::cust(format!(
                "(CURRENT_TIMESTAMP + interval '{} milliseconds')",
                d.as_millis()
            ))
        }
    }

    /// The condition "no live lease on the row".
    fn unleased(&self) -> Condition {
        Condition::any()
            .add(connection::Column::LeaseExpiresAt.is_null())
            .add(Expr::col(connection::Column::LeaseExpiresAt).lt(self.now_expr()))
    }

    /// The fence every holder's write carries.
    fn fenced(lease: &Lease) -> Condition {
        Condition::all()
            .add(connection::Column::Id.eq(lease.id))
            .add(connection::Column::Version.eq(lease.version))
            .add(connection::Column::LeaseOwner.eq(lease.owner.as_ref()))
    }

    /// Takes the lease on `row` as read. A heartbeat claim (`due_only`) also requires the row to
    /// be due, checked in the same statement, so overlapping sweeps never refresh one row twice.
    pub async fn claim(
        &self,
        row: &connection::Model,
        purpose: Purpose,
        due_only: bool,
    ) -> Result<Claim> {
        let mut q = self
            .taking()
            .filter(connection::Column::Id.eq(row.id))
            .filter(connection::Column::Version.eq(row.version))
            .filter(self.unleased());
        if purpose == Purpose::Exchange {
            q = self.write_ahead(q, resting_status(row));
        }
        if due_only {
            q = q.filter(self.still_due());
        }
        if q.exec(&self.db).await?.rows_affected == 1 {
            return Ok(Claim::Taken(Lease {
                id: row.id,
                version: row.version + 1,
                owner: self.owner.clone(),
                purpose,
                resting: resting_status(row),
            }));
        }
        // Say why it missed.
        let Some(now_row) = connection::Entity::find_by_id(row.id).one(&self.db).await? else {
            return Err(Error::Internal(format!("connection {} vanished", row.id)));
        };
        if now_row.version != row.version {
            return Ok(Claim::Moved);
        }
        let live = now_row
            .lease_expires_at
            .is_some_and(|t| t >= self.clock_now());
        if live || (!due_only && now_row.lease_owner.is_some()) {
            return Ok(Claim::Held {
                until: now_row.lease_expires_at,
            });
        }
        if due_only {
            return Ok(Claim::NotDue);
        }
        // The lease ran out between our read and our claim as judged by two clocks; read again.
        Ok(Claim::Moved)
    }

    /// An UPDATE that takes the lease: this process as its owner, until a lease from now, one
    /// version on. Its caller adds the fence.
    fn taking(&self) -> sea_orm::UpdateMany<connection::Entity> {
        connection::Entity::update_many()
            .col_expr(
                connection::Column::LeaseOwner,
                Expr::value(self.owner.to_string()),
            )
            .col_expr(
                connection::Column::LeaseExpiresAt,
                self.later_expr(self.lease),
            )
            .col_expr(
                connection::Column::Version,
                Expr::col(connection::Column::Version).add(1),
            )
    }

    /// The write-ahead marks of an exchange lease: `refreshing`, the status it rests as, and
    /// when the refresh started.
    fn write_ahead(
        &self,
        q: sea_orm::UpdateMany<connection::Entity>,
        resting: ConnectionStatus,
    ) -> sea_orm::UpdateMany<connection::Entity> {
        q.col_expr(
            connection::Column::Status,
            Expr::value(ConnectionStatus::Refreshing),
        )
        .col_expr(connection::Column::RestsAs, Expr::value(resting))
        .col_expr(connection::Column::RefreshStartedAt, self.now_expr())
    }

    /// A heartbeat claim's "still due": its time has come, or it is a dead holder's
    /// `refreshing` row (whose lease the claim's `unleased` condition finds run out).
    fn still_due(&self) -> Condition {
        Condition::any()
            .add(Expr::col(connection::Column::NextHeartbeatAt).lte(self.now_expr()))
            .add(connection::Column::Status.eq(ConnectionStatus::Refreshing))
    }

    /// This process's best view of the lease clock (for decisions that need no atomicity,
    /// such as how long to wait).
    pub fn clock_now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Pushes the lease's expiry out. `false`: the lease is no longer ours.
    pub async fn extend(&self, lease: &Lease) -> Result<bool> {
        let res = connection::Entity::update_many()
            .col_expr(
                connection::Column::LeaseExpiresAt,
                self.later_expr(self.lease),
            )
            .filter(Self::fenced(lease))
            .exec(&self.db)
            .await?;
        Ok(res.rows_affected == 1)
    }

    /// Runs a lease-ending write and wakes the row's waiters (`super::wake::exec_ending`).
    async fn end(&self, lease: &Lease, q: sea_orm::UpdateMany<connection::Entity>) -> Result<u64> {
        super::wake::exec_ending(&self.db, &self.wake, lease.id, q).await
    }

    /// Keeps a rotated refresh token whose holder lost its lease: it is the newest token, so the
    /// next lease holder presents it instead of the stored one. Unfenced on purpose (the row is
    /// someone else's now); it never touches a row that is out of service.
    pub async fn park(&self, id: i64, token: &Sealed, now: DateTime<Utc>) -> Result<bool> {
        let res = connection::Entity::update_many()
            .col_expr(
                connection::Column::PendingRefreshTokenCt,
                Expr::value(token.bytes.clone()),
            )
            .col_expr(
                connection::Column::PendingKeyId,
                Expr::value(token.key_id.clone()),
            )
            .col_expr(connection::Column::PendingAt, Expr::value(now))
            .filter(connection::Column::Id.eq(id))
            .filter(
                connection::Column::Status
                    .is_not_in([ConnectionStatus::Revoked, ConnectionStatus::Superseded]),
            )
            .exec(&self.db)
            .await?;
        Ok(res.rows_affected == 1)
    }

    /// Ends the lease after a failure that leaves the token standing; the row returns to its
    /// resting status and is tried again at `retry_at`. `false`: the lease was no longer ours.
    pub async fn release(
        &self,
        lease: &Lease,
        class: ErrorClass,
        detail: &str,
        retry_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let res = connection::Entity::update_many()
            .col_expr(connection::Column::Status, Expr::value(lease.resting))
            .col_expr(connection::Column::LastErrorClass, Expr::value(class))
            .col_expr(connection::Column::LastError, Expr::value(detail))
            .col_expr(connection::Column::LastErrorAt, Expr::value(now))
            .col_expr(connection::Column::NextHeartbeatAt, Expr::value(retry_at))
            .col_expr(connection::Column::UpdatedAt, Expr::value(now))
            .pipe(end_lease)
            .filter(Self::fenced(lease));
        Ok(self.end(lease, res).await? == 1)
    }
}

/// Clears the lease and bumps the version: the write every lease holder's last statement makes.
fn end_lease(
    q: sea_orm::UpdateMany<connection::Entity>,
) -> sea_orm::UpdateMany<connection::Entity> {
    q.col_expr(
        connection::Column::LeaseOwner,
        Expr::value(Option::<String>::None),
    )
    .col_expr(
        connection::Column::LeaseExpiresAt,
        Expr::value(Option::<DateTime<Utc>>::None),
    )
    .col_expr(
        connection::Column::Version,
        Expr::col(connection::Column::Version).add(1),
    )
}

/// The status a row returns to when a lease ends without a verdict. A row found `refreshing`
/// (its holder died) rests as its claim recorded; rows from before that column existed were
/// `verifying` if they still wait for verification, else `active`.
pub fn resting_status(row: &connection::Model) -> ConnectionStatus {
    match row.status {
        ConnectionStatus::Refreshing => match row.rests_as {
            Some(s) if s != ConnectionStatus::Refreshing => s,
            _ if row.next_verify_at.is_some() => ConnectionStatus::Verifying,
            _ => ConnectionStatus::Active,
        },
        s => s,
    }
}

/// `pipe` for query builders, so the shared tail reads in order.
trait Pipe: Sized {
    fn pipe(self, f: impl FnOnce(Self) -> Self) -> Self {
        f(self)
    }
}

impl<E: EntityTrait> Pipe for sea_orm::UpdateMany<E> {}
