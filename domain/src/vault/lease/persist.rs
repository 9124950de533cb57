//! A persist: the fenced, lease-ending write that stores what an exchange returned — and, in the
//! same commit, its `connection.refreshed` event, so a stored token and its event are written
//! together or not at all (a persist that is fenced out writes neither). Many persists in one
//! commit are in `persist_group`.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{DatabaseBackend, EntityTrait, QueryFilter, TransactionTrait};

use super::{Lease, Leases, Pipe, end_lease};
use crate::entity::connection::{self, ConnectionStatus, ErrorClass};
use crate::entity::event;
use crate::error::Result;
use crate::events::Actor;
use crate::security::crypto::Sealed;
use crate::types::OrgId;
use crate::vault::wake::{ending_statement, exec_ending_on};

/// What a persist stores.
#[derive(Clone)]
pub struct Persist {
    pub refresh_token: Sealed,
    /// `None`: the answer carried no usable access token (the next call exchanges again).
    pub access_token: Option<Sealed>,
    pub instance_url: String,
    pub anomaly: Option<String>,
    pub next_heartbeat_at: DateTime<Utc>,
    pub now: DateTime<Utc>,
    /// `Some(status)` overrides the lease's resting status (quarantine).
    pub status: Option<ConnectionStatus>,
    /// The event written in the persist's own commit when it lands (at `now`, by the system).
    pub event: Option<RefreshedEvent>,
}

/// A `connection.refreshed` event, as a persist writes it.
#[derive(Clone, Debug)]
pub struct RefreshedEvent {
    pub org_id: OrgId,
    pub details: serde_json::Value,
}

impl RefreshedEvent {
    pub const KIND: &str = "connection.refreshed";

    /// The event's row, at `at`.
    pub(super) fn model(&self, at: DateTime<Utc>) -> event::ActiveModel {
        use sea_orm::ActiveValue::{NotSet, Set};
        event::ActiveModel {
            id: NotSet,
            at: Set(at),
            actor_kind: Set(Actor::System.kind().to_owned()),
            actor: Set(None),
            org_id: Set(Some(self.org_id.clone())),
            kind: Set(Self::KIND.to_owned()),
            details: Set(self.details.clone()),
        }
    }
}

impl Leases {
    /// Stores a successful exchange's tokens (and its event) and ends the lease. `false`: the
    /// lease is no longer ours and nothing was written (the caller must park the token, see
    /// [`Self::park`]).
    pub async fn persist(&self, lease: &Lease, p: &Persist) -> Result<bool> {
        let q = Self::persist_query(lease, p);
        let landed = match (&p.event, self.db.get_database_backend()) {
            (None, _) => exec_ending_on(&self.db, q).await? == 1,
            // One statement: the event's INSERT reads the UPDATE's `RETURNING`, so it is made
            // only for a row that matched its fence.
            (Some(ev), DatabaseBackend::Postgres) => {
                use sea_orm::{ConnectionTrait as _, QueryTrait as _};
                let update = q.build(DatabaseBackend::Postgres);
                let n = update.values.as_ref().map_or(0, |v| v.0.len());
                let also = format!(
                    ", ev AS (INSERT INTO events (at, actor_kind, org_id, kind, details) \
                     SELECT ${}::timestamptz, ${}::text, ${}::text, ${}::text, ${}::jsonb FROM ended)",
                    n + 1,
                    n + 2,
                    n + 3,
                    n + 4,
                    n + 5
                );
                let stmt = ending_statement(update, &also, event_values(ev, p.now));
                self.db.query_all_raw(stmt).await?.len() == 1
            }
            (Some(ev), _) => {
                let txn = self.db.begin().await?;
                let landed = exec_ending_on(&txn, q).await? == 1;
                if landed {
                    event::Entity::insert(ev.model(p.now))
                        .exec_without_returning(&txn)
                        .await?;
                }
                txn.commit().await?;
                landed
            }
        };
        if landed {
            self.wake.ended(lease.id);
        }
        Ok(landed)
    }

    /// The fenced, lease-ending UPDATE that stores `p` (one persist; `persist_group` runs many of
    /// them in one transaction on SQLite). PostgreSQL's group statement in `persist_group` lists
    /// these columns again: a column added here goes there too (the test
    /// `a_grouped_persist_writes_every_column_a_single_persist_writes` compares the rows).
    pub(super) fn persist_query(
        lease: &Lease,
        p: &Persist,
    ) -> sea_orm::UpdateMany<connection::Entity> {
        let status = p.status.unwrap_or(lease.resting);
        connection::Entity::update_many()
            .col_expr(
                connection::Column::RefreshTokenCt,
                Expr::value(p.refresh_token.bytes.clone()),
            )
            .col_expr(
                connection::Column::AccessTokenCt,
                Expr::value(p.access_token.as_ref().map(|a| a.bytes.clone())),
            )
            .col_expr(
                connection::Column::KeyId,
                Expr::value(p.refresh_token.key_id.clone()),
            )
            .col_expr(
                connection::Column::InstanceUrl,
                Expr::value(p.instance_url.clone()),
            )
            .col_expr(connection::Column::Status, Expr::value(status))
            .col_expr(
                connection::Column::AccessTokenAt,
                Expr::value(p.access_token.as_ref().map(|_| p.now)),
            )
            .col_expr(connection::Column::LastExchangeAt, Expr::value(p.now))
            .col_expr(
                connection::Column::NextHeartbeatAt,
                Expr::value(p.next_heartbeat_at),
            )
            .col_expr(connection::Column::Anomaly, Expr::value(p.anomaly.clone()))
            .col_expr(
                connection::Column::PendingRefreshTokenCt,
                Expr::value(Option::<Vec<u8>>::None),
            )
            .col_expr(
                connection::Column::PendingKeyId,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                connection::Column::PendingAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(
                connection::Column::LastErrorClass,
                Expr::value(Option::<ErrorClass>::None),
            )
            .col_expr(
                connection::Column::LastError,
                Expr::value(Option::<String>::None),
            )
            .col_expr(connection::Column::UpdatedAt, Expr::value(p.now))
            .pipe(end_lease)
            .filter(Self::fenced(lease))
    }
}

/// An event's values for a statement, in the order of its columns (at, actor kind, org, kind,
/// details).
pub(super) fn event_values(ev: &RefreshedEvent, at: DateTime<Utc>) -> Vec<sea_orm::Value> {
    vec![
        at.into(),
        Actor::System.kind().into(),
        ev.org_id.as_str().into(),
        RefreshedEvent::KIND.into(),
        ev.details.clone().into(),
    ]
}
