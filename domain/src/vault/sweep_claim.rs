//! The heartbeat's claims, grouped: every refresh of a sweep that is ready to start (a free
//! slot, a free place at its instance) hands its row to one claimer, which takes the leases of
//! all the rows waiting at that moment in one statement ([`Leases::claim_due`]) — so a row is
//! claimed only when its exchange can start at once (no lease ages in a queue), and a sweep with
//! hundreds of refreshes in flight pays a few claim statements where it paid one per row, plus
//! the re-read before each.
//!
//! The row the claim fences on is the one the sweep read: a row that changed since is not taken
//! and is left to whoever changed it, as a single claim that finds it moved or leased would.

use tokio::sync::{mpsc, oneshot};

use super::lease::{Lease, Leases};
use super::{Answer, Trigger, Vault, VaultError};
use crate::entity::connection::{self, ConnectionStatus};
use crate::error::{Error, Result};

/// Most rows in one claim statement (well under both backends' bound-parameter limits).
const MAX_ROWS: usize = 256;

type Claimed = std::result::Result<(connection::Model, Option<Lease>), String>;

/// Where a sweep's refreshes send their rows to be claimed.
pub(super) type ClaimTx = mpsc::UnboundedSender<(connection::Model, oneshot::Sender<Claimed>)>;

/// The claimer: takes what is waiting, claims it in one go, answers each row. It ends when every
/// sender is gone.
pub(super) async fn claimer(
    leases: Leases,
    mut rx: mpsc::UnboundedReceiver<(connection::Model, oneshot::Sender<Claimed>)>,
) {
    while let Some(batch) = super::next_batch(&mut rx, MAX_ROWS).await {
        let rows: Vec<&connection::Model> = batch.iter().map(|(c, _)| c).collect();
        match leases.claim_due(&rows).await {
            Ok(taken) => {
                let mut taken: std::collections::HashMap<i64, Lease> =
                    taken.into_iter().map(|l| (l.id, l)).collect();
                for (c, reply) in batch {
                    let lease = taken.remove(&c.id);
                    reply.send(Ok((c, lease))).ok();
                }
            }
            Err(e) => {
                let e = e.to_string();
                for (_, reply) in batch {
                    reply.send(Err(e.clone())).ok();
                }
            }
        }
    }
}

impl Vault {
    /// One heartbeat refresh of a row the sweep read as due: this process's lock for the
    /// connection (if another refresh here holds it, there is nothing to do), the claim through
    /// the sweep's claimer, then the exchange on a tracked task of its own, as every refresh.
    pub(super) async fn heartbeat_refresh(
        &self,
        c: connection::Model,
        claims: &ClaimTx,
    ) -> Result<Answer> {
        let busy = |c: &connection::Model| {
            Ok(Err(VaultError::Busy {
                org_id: c.org_id.clone(),
            }))
        };
        let lock = self.lock_for(c.id);
        let Ok(_guard) = lock.try_lock() else {
            return busy(&c);
        };
        if self.closing() {
            return busy(&c);
        }
        let stopped = || Error::Internal("the heartbeat's claimer has stopped".into());
        let (reply, answer) = oneshot::channel();
        claims.send((c, reply)).map_err(|_| stopped())?;
        let (c, lease) = answer
            .await
            .map_err(|_| stopped())?
            .map_err(Error::Internal)?;
        let Some(lease) = lease else {
            // Refreshed, leased or changed since the sweep read it: not this sweep's to do.
            return busy(&c);
        };
        // A row found `refreshing` can only be claimed once its lease ran out: its holder died
        // mid-rotation, and this claim is the recovery.
        let trigger = if c.status == ConnectionStatus::Refreshing {
            Trigger::Recovery
        } else {
            Trigger::Heartbeat
        };
        let id = c.id;
        let vault = self.clone();
        self.inner
            .tracker
            .spawn(async move { vault.exchange_claimed(c, lease, trigger).await })
            .await
            .map_err(|e| {
                Error::Internal(format!("connection {id}: the refresh task failed: {e}"))
            })?
    }
}
