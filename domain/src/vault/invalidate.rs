//! The cache invalidation bus: a cut-over, a retirement or a revocation must reach the token
//! cache of every process before anything is revoked. The process that decides drops its own
//! entry at once and writes a row to `cache_invalidations`; every vault polls that table (every
//! `VaultOptions::invalidation_poll`) and drops the orgs it names. The table is pruned after a
//! day. Polling works the same on SQLite and PostgreSQL and needs no connection held open; a
//! revocation waits [`Vault::invalidation_horizon`] after the row was written.

use std::sync::{Arc, Weak};
use std::time::Duration;

use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::{Inner, Vault};
use crate::entity::cache_invalidation;
use crate::error::Result;
use crate::types::OrgId;

/// Rows kept for processes that were slow to look.
const KEEP: chrono::Duration = chrono::Duration::days(1);

impl Vault {
    /// Drops an org's cached access tokens in every process: here at once, elsewhere within
    /// [`Self::invalidation_horizon`].
    pub async fn invalidate(&self, org: &OrgId) -> Result<()> {
        self.forget(org.as_str());
        cache_invalidation::Entity::insert(cache_invalidation::ActiveModel {
            id: NotSet,
            org_id: Set(org.clone()),
            at: Set(self.now()),
        })
        .exec(self.db())
        .await?;
        metrics::counter!("reauth_cache_invalidations_total").increment(1);
        Ok(())
    }

    /// How long after [`Self::invalidate`] every live process has dropped the org's tokens.
    pub fn invalidation_horizon(&self) -> Duration {
        self.inner.opts.invalidation_poll * 3 + Duration::from_secs(1)
    }

    /// Starts this vault's poller (when there is a runtime). It holds only a weak reference, so
    /// it ends with the vault.
    pub(super) fn listen_for_invalidations(&self) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let every = self.inner.opts.invalidation_poll;
        rt.spawn(async move {
            let mut seen = Seen::default();
            let mut pruned_at = std::time::Instant::now();
            loop {
                let Some(inner) = weak.upgrade() else { return };
                let vault = Vault { inner };
                if let Err(e) = poll(&vault, &mut seen).await {
                    tracing::warn!(error = %e, "could not read cache invalidations");
                }
                if pruned_at.elapsed() > Duration::from_secs(3600) {
                    pruned_at = std::time::Instant::now();
                    let _ = cache_invalidation::Entity::delete_many()
                        .filter(cache_invalidation::Column::At.lt(vault.now() - KEEP))
                        .exec(vault.db())
                        .await;
                }
                drop(vault);
                tokio::time::sleep(every).await;
            }
        });
    }
}

/// The rows a poller has acted on, within the look-back window.
#[derive(Default)]
struct Seen {
    started: bool,
    newest: i64,
    ids: std::collections::HashSet<i64>,
}

/// How many ids back each poll reads: ids are not committed in order on PostgreSQL (a row with a
/// lower id can become visible after a higher one), so a poll reads a window and skips the rows
/// it already acted on. Dropping an org twice costs one cache miss, nothing more.
const LOOK_BACK: i64 = 1000;

/// Drops the orgs named in rows not acted on yet. The first poll only learns what is there: this
/// process's cache started empty.
async fn poll(v: &Vault, seen: &mut Seen) -> Result<()> {
    let floor = seen.newest.saturating_sub(LOOK_BACK);
    let rows = cache_invalidation::Entity::find()
        .filter(cache_invalidation::Column::Id.gt(floor))
        .order_by_asc(cache_invalidation::Column::Id)
        .limit(100_000)
        .all(v.db())
        .await?;
    for r in rows {
        seen.newest = seen.newest.max(r.id);
        if seen.ids.insert(r.id) && seen.started {
            v.forget(r.org_id.as_str());
        }
    }
    seen.started = true;
    let floor = seen.newest.saturating_sub(LOOK_BACK);
    seen.ids.retain(|id| *id > floor);
    Ok(())
}
