//! Many persists at once: [`Leases::persist_all`] stores the rotated tokens of every refresh
//! that finished at the same moment with one commit (one WAL flush) instead of one each. Each
//! row keeps the fence of [`Leases::persist`] — its id, its version while leased and its lease
//! owner — so a row whose lease was lost is reported as not landed and nothing is written for
//! it, exactly as a single persist would report it, while the others land.
//!
//! On PostgreSQL the group is one statement: an `UPDATE … FROM (VALUES …)` with a row of values
//! per persist, whose `RETURNING` says which rows matched their fence, feeds the `INSERT` of
//! their events, and whose `pg_notify` wakes the other processes' waiters at commit. On SQLite
//! (one writer at a time, each statement in process) — and for a group that names a row twice —
//! the same single-row UPDATEs as [`Leases::persist`], each landed one followed by its event's
//! INSERT, run in one transaction. Either way a row's token and its event share one commit.

use sea_orm::{
    ActiveEnum as _, ConnectionTrait, DatabaseBackend, EntityTrait as _, Statement,
    TransactionTrait,
};

use super::persist::RefreshedEvent;
use super::{Lease, Leases, Persist};
use crate::entity::event;
use crate::error::Result;
use crate::vault::wake::{CHANNEL, exec_ending_on};

/// The values of one persist, in the order of [`VALUES_COLUMNS`].
const VALUES_COLUMNS: &str = "id, version, owner, rt, at, key_id, instance_url, status, \
                              access_token_at, now, next_heartbeat_at, anomaly, ev_org, ev_details";
/// Their PostgreSQL types (a `VALUES` list's parameters are typed by their first row).
const VALUES_TYPES: [&str; 14] = [
    "bigint",
    "bigint",
    "text",
    "bytea",
    "bytea",
    "text",
    "text",
    "text",
    "timestamptz",
    "timestamptz",
    "timestamptz",
    "text",
    "text",
    "jsonb",
];

impl Leases {
    /// Stores every `(lease, persist)` of `items` in one commit and ends those leases.
    /// Answers, in the order of `items`, whether each landed (`false`: the lease was no longer
    /// ours and nothing was written for that row). An error means the group is not known to have
    /// committed: the caller writes each row again on its own, fenced, so a row that did land is
    /// found moved and nothing is written twice.
    pub async fn persist_all(&self, items: &[(Lease, Persist)]) -> Result<Vec<bool>> {
        // One statement can change a row once: a group naming a row twice (which the queue
        // never makes) is written row by row, where the second write finds the row moved.
        let distinct = items
            .iter()
            .map(|(lease, _)| lease.id)
            .collect::<std::collections::HashSet<_>>()
            .len()
            == items.len();
        let landed = match self.db.get_database_backend() {
            DatabaseBackend::Postgres if distinct => self.persist_all_pg(items).await?,
            _ => {
                let txn = self.db.begin().await?;
                let mut landed = Vec::with_capacity(items.len());
                for (lease, p) in items {
                    let ok = exec_ending_on(&txn, Self::persist_query(lease, p)).await? == 1;
                    if let (true, Some(ev)) = (ok, &p.event) {
                        event::Entity::insert(ev.model(p.now))
                            .exec_without_returning(&txn)
                            .await?;
                    }
                    landed.push(ok);
                }
                txn.commit().await?;
                landed
            }
        };
        // Waiters here are woken once the rows are committed (others by the commit's notifies).
        for ((lease, _), ok) in items.iter().zip(&landed) {
            if *ok {
                self.wake.ended(lease.id);
            }
        }
        Ok(landed)
    }

    /// The group as one `UPDATE … FROM (VALUES …) … RETURNING id` (PostgreSQL).
    async fn persist_all_pg(&self, items: &[(Lease, Persist)]) -> Result<Vec<bool>> {
        let mut values: Vec<sea_orm::Value> = Vec::with_capacity(items.len() * VALUES_TYPES.len());
        let mut rows = Vec::with_capacity(items.len());
        for (lease, p) in items {
            let status = p.status.unwrap_or(lease.resting);
            let first = values.len();
            values.extend([
                lease.id.into(),
                lease.version.into(),
                lease.owner.to_string().into(),
                p.refresh_token.bytes.clone().into(),
                p.access_token.as_ref().map(|a| a.bytes.clone()).into(),
                p.refresh_token.key_id.clone().into(),
                p.instance_url.clone().into(),
                status.to_value().into(),
                p.access_token.as_ref().map(|_| p.now).into(),
                p.now.into(),
                p.next_heartbeat_at.into(),
                p.anomaly.clone().into(),
                p.event
                    .as_ref()
                    .map(|e| e.org_id.as_str().to_owned())
                    .into(),
                p.event.as_ref().map(|e| e.details.clone()).into(),
            ]);
            let row: Vec<String> = VALUES_TYPES
                .iter()
                .enumerate()
                .map(|(i, ty)| format!("${}::{ty}", first + i + 1))
                .collect();
            rows.push(format!("({})", row.join(", ")));
        }
        // The events' constant columns, after the rows' values.
        let (system, kind) = (values.len() + 1, values.len() + 2);
        values.extend([
            crate::events::Actor::System.kind().into(),
            RefreshedEvent::KIND.into(),
        ]);
        let sql = format!(
            "WITH v({VALUES_COLUMNS}) AS (VALUES {}), \
             ended AS (UPDATE connections AS c SET \
               refresh_token_ct = v.rt, access_token_ct = v.at, key_id = v.key_id, \
               instance_url = v.instance_url, status = v.status, \
               access_token_at = v.access_token_at, last_exchange_at = v.now, \
               next_heartbeat_at = v.next_heartbeat_at, anomaly = v.anomaly, \
               pending_refresh_token_ct = NULL, pending_key_id = NULL, pending_at = NULL, \
               last_error_class = NULL, last_error = NULL, updated_at = v.now, \
               lease_owner = NULL, lease_expires_at = NULL, version = c.version + 1 \
             FROM v WHERE c.id = v.id AND c.version = v.version AND c.lease_owner = v.owner \
             RETURNING c.id, v.now, v.ev_org, v.ev_details), \
             ev AS (INSERT INTO events (at, actor_kind, org_id, kind, details) \
               SELECT now, ${system}::text, ev_org, ${kind}::text, ev_details FROM ended \
               WHERE ev_org IS NOT NULL) \
             SELECT id, pg_notify('{CHANNEL}', id::text) FROM ended",
            rows.join(", ")
        );
        let stmt = Statement::from_sql_and_values(DatabaseBackend::Postgres, sql, values);
        let mut ended = std::collections::HashSet::with_capacity(items.len());
        for row in self.db.query_all_raw(stmt).await? {
            ended.insert(row.try_get::<i64>("", "id")?);
        }
        Ok(items
            .iter()
            .map(|(lease, _)| ended.contains(&lease.id))
            .collect())
    }
}
