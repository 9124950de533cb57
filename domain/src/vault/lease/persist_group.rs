//! Many persists in one transaction: [`Leases::persist_all`] runs each persist's own fenced,
//! lease-ending UPDATE — the statement [`Leases::persist`] runs, unchanged — inside one
//! transaction, so the refreshes of a moment share one commit (one WAL flush) instead of paying
//! one each. Each UPDATE still answers for its own row: a row whose fence no longer matches is
//! reported as not landed, exactly as a single persist would report it, and the others land.

use sea_orm::TransactionTrait;

use super::{Lease, Leases, Persist};
use crate::error::Result;
use crate::vault::wake::exec_ending_on;

impl Leases {
    /// Stores every `(lease, persist)` of `items` in one transaction and ends those leases.
    /// Answers, in the order of `items`, whether each landed (`false`: the lease was no longer
    /// ours and nothing was written for that row). An error means the transaction is not known
    /// to have committed: the caller writes each row again on its own, fenced, so a row that did
    /// land is found moved and nothing is written twice.
    pub async fn persist_all(&self, items: &[(Lease, Persist)]) -> Result<Vec<bool>> {
        let txn = self.db.begin().await?;
        let mut landed = Vec::with_capacity(items.len());
        for (lease, p) in items {
            landed.push(exec_ending_on(&txn, Self::persist_query(lease, p)).await? == 1);
        }
        txn.commit().await?;
        // Waiters here are woken once the rows are committed (others by the commit's notifies).
        for ((lease, _), ok) in items.iter().zip(&landed) {
            if *ok {
                self.wake.ended(lease.id);
            }
        }
        Ok(landed)
    }
}
