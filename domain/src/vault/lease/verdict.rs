//! Ending a lease with a verdict: [`Leases::mark`], [`Leases::verification_failed`] and
//! [`Leases::transition`], each an UPDATE fenced on the holder's `version` and owner that also
//! clears the lease, so a verdict from a holder that lost its lease writes nothing.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{EntityTrait, QueryFilter};

use super::{Lease, Leases, Pipe, end_lease};
use crate::entity::connection::{self, ConnectionStatus, ErrorClass};
use crate::error::Result;

impl Leases {
    /// Ends the lease with a verdict: `needs_reauth`, `revoked`, `superseded`, `quarantined`,
    /// or `active` for a promotion. `false`: the lease was no longer ours; nothing was written.
    pub async fn mark(&self, lease: &Lease, m: Mark<'_>) -> Result<bool> {
        let mut q = connection::Entity::update_many()
            .col_expr(connection::Column::Status, Expr::value(m.status))
            .col_expr(connection::Column::UpdatedAt, Expr::value(m.now))
            .pipe(end_lease)
            .filter(Self::fenced(lease));
        if let Some((class, reason)) = m.error {
            q = q
                .col_expr(connection::Column::LastErrorClass, Expr::value(class))
                .col_expr(connection::Column::LastError, Expr::value(reason))
                .col_expr(connection::Column::LastErrorAt, Expr::value(m.now));
        }
        if !matches!(
            m.status,
            ConnectionStatus::Active | ConnectionStatus::Standby
        ) {
            // Nothing refreshes it any more.
            q = q.col_expr(
                connection::Column::NextHeartbeatAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            );
        }
        if m.status != ConnectionStatus::Verifying {
            q = q.col_expr(
                connection::Column::NextVerifyAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            );
        }
        if let Some(u) = m.sf_username {
            q = q.col_expr(connection::Column::SfUsername, Expr::value(u));
        }
        Ok(self.end(lease, q).await? == 1)
    }

    /// Records a failed verification on a `verifying` row the caller holds an admin lease on.
    pub async fn verification_failed(
        &self,
        lease: &Lease,
        attempts: i32,
        next: Option<DateTime<Utc>>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let res = connection::Entity::update_many()
            .col_expr(connection::Column::VerifyAttempts, Expr::value(attempts))
            .col_expr(connection::Column::NextVerifyAt, Expr::value(next))
            .col_expr(connection::Column::LastError, Expr::value(reason))
            .col_expr(connection::Column::LastErrorAt, Expr::value(now))
            .col_expr(connection::Column::UpdatedAt, Expr::value(now))
            .pipe(end_lease)
            .filter(Self::fenced(lease));
        Ok(self.end(lease, res).await? == 1)
    }
}

/// A status change with its schedule, for [`Leases::transition`] (activation, acceptance,
/// retirement and its revocation retries).
pub struct Transition<'a> {
    pub status: ConnectionStatus,
    /// When the heartbeat next refreshes it (`None`: never).
    pub next_heartbeat_at: Option<DateTime<Utc>>,
    /// Revocation attempts so far and when the next is due (retirement only).
    pub revoke: Option<(i32, Option<DateTime<Utc>>)>,
    pub error: Option<&'a str>,
    /// Set when a verification promotes it (the legacy retirement clock starts here).
    pub verified_at: Option<DateTime<Utc>>,
    pub sf_username: Option<String>,
    pub now: DateTime<Utc>,
}

impl Transition<'_> {
    /// A change to `status` alone: nothing scheduled, no revocation, error, verification or
    /// username (the fields a caller sets go in with `..Transition::to(status, now)`).
    pub fn to(status: ConnectionStatus, now: DateTime<Utc>) -> Self {
        Self {
            status,
            next_heartbeat_at: None,
            revoke: None,
            error: None,
            verified_at: None,
            sf_username: None,
            now,
        }
    }
}

impl Leases {
    /// Ends an admin lease with a status change and its schedule. `false`: the lease was no
    /// longer ours; nothing was written.
    pub async fn transition(&self, lease: &Lease, t: Transition<'_>) -> Result<bool> {
        let mut q = connection::Entity::update_many()
            .col_expr(connection::Column::Status, Expr::value(t.status))
            .col_expr(
                connection::Column::NextHeartbeatAt,
                Expr::value(t.next_heartbeat_at),
            )
            .col_expr(connection::Column::UpdatedAt, Expr::value(t.now))
            .pipe(end_lease)
            .filter(Self::fenced(lease));
        if let Some((attempts, next)) = t.revoke {
            q = q
                .col_expr(connection::Column::RevokeAttempts, Expr::value(attempts))
                .col_expr(connection::Column::NextRevokeAt, Expr::value(next));
        }
        if let Some(e) = t.error {
            q = q
                .col_expr(connection::Column::LastError, Expr::value(e))
                .col_expr(connection::Column::LastErrorAt, Expr::value(t.now));
        }
        if let Some(at) = t.verified_at {
            q = q
                .col_expr(connection::Column::VerifiedAt, Expr::value(at))
                .col_expr(
                    connection::Column::NextVerifyAt,
                    Expr::value(Option::<DateTime<Utc>>::None),
                );
        }
        if let Some(u) = t.sf_username {
            q = q.col_expr(connection::Column::SfUsername, Expr::value(u));
        }
        Ok(self.end(lease, q).await? == 1)
    }
}

/// A verdict for [`Leases::mark`].
pub struct Mark<'a> {
    pub status: ConnectionStatus,
    pub error: Option<(ErrorClass, &'a str)>,
    pub sf_username: Option<String>,
    pub now: DateTime<Utc>,
}
