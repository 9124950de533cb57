//! Heartbeat claims for many rows in one statement.
//!
//! [`Leases::claim_due`] takes the exchange lease on every row of a set the heartbeat read, with
//! the conditions [`Leases::claim`] puts on one row, row by row in one `UPDATE … RETURNING id`:
//! the row's `version` as read (the fence: a row that changed since it was read is not taken),
//! no live lease on it, and still due (or a dead holder's `refreshing` row). A row it returns is
//! the caller's exactly as it read it, one version on; a row it does not return is someone
//! else's, and the heartbeat leaves it alone. Each taken row is marked `refreshing` with its
//! resting status, as one claim marks it (write-ahead).

use sea_orm::{ColumnTrait, Condition, ConnectionTrait, QueryFilter, QueryTrait};

use super::{Lease, Leases, Purpose, resting_status};
use crate::entity::connection::{self, ConnectionStatus};
use crate::error::Result;

impl Leases {
    /// Takes the heartbeat's exchange lease on each of `rows` (as read, due) that is still as
    /// read, unleased and due; answers the leases taken, in no particular order. One statement
    /// per resting status among the rows (one, as a rule).
    pub async fn claim_due(&self, rows: &[&connection::Model]) -> Result<Vec<Lease>> {
        let mut taken = Vec::with_capacity(rows.len());
        let mut by_resting: Vec<(ConnectionStatus, Vec<&connection::Model>)> = Vec::new();
        for r in rows {
            let resting = resting_status(r);
            match by_resting.iter_mut().find(|(s, _)| *s == resting) {
                Some((_, group)) => group.push(r),
                None => by_resting.push((resting, vec![r])),
            }
        }
        for (resting, group) in by_resting {
            let ids = self.claim_group(resting, &group).await?;
            for r in group {
                if ids.contains(&r.id) {
                    taken.push(Lease {
                        id: r.id,
                        version: r.version + 1,
                        owner: self.owner.clone(),
                        purpose: Purpose::Exchange,
                        resting,
                    });
                }
            }
        }
        Ok(taken)
    }

    /// One `UPDATE … RETURNING id` over rows that share a resting status.
    async fn claim_group(
        &self,
        resting: ConnectionStatus,
        rows: &[&connection::Model],
    ) -> Result<std::collections::HashSet<i64>> {
        if rows.is_empty() {
            return Ok(Default::default());
        }
        let fences = rows.iter().fold(Condition::any(), |c, r| {
            c.add(
                Condition::all()
                    .add(connection::Column::Id.eq(r.id))
                    .add(connection::Column::Version.eq(r.version)),
            )
        });
        let mut q = self
            .write_ahead(self.taking(), resting)
            .filter(connection::Column::Id.is_in(rows.iter().map(|r| r.id)))
            .filter(fences)
            .filter(self.unleased())
            .filter(self.still_due())
            .into_query();
        q.returning_col(connection::Column::Id);
        let stmt = self.db.get_database_backend().build(&q);
        let mut ids = std::collections::HashSet::with_capacity(rows.len());
        for row in self.db.query_all_raw(stmt).await? {
            ids.insert(row.try_get::<i64>("", "id")?);
        }
        Ok(ids)
    }
}
