//! What the token API serves an org: its best credential, from the cache when it can.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use secrecy::ExposeSecret;

use super::{Answer, Trigger, Vault, VaultError, lease};
use crate::entity::connection::{self, ConnectionApp, ConnectionStatus};
use crate::entity::org;
use crate::error::{Error, Result};
use crate::types::OrgId;

impl Vault {
    /// [`Self::access_token`] within `api.deadline`: see [`Self::within_deadline`].
    pub async fn access_token_by_deadline(&self, org: &OrgId) -> Result<Answer> {
        let (vault, o, give_up) = (self.clone(), org.clone(), self.give_up_by(true));
        self.within_deadline(
            org,
            async move { vault.access_token_until(&o, give_up).await },
        )
        .await
    }

    /// [`Self::force_refresh`] within `api.deadline`: see [`Self::within_deadline`].
    pub async fn force_refresh_by_deadline(
        &self,
        org: &OrgId,
        rejected: Option<String>,
    ) -> Result<Answer> {
        let (vault, o, give_up) = (self.clone(), org.clone(), self.give_up_by(true));
        self.within_deadline(org, async move {
            vault
                .force_refresh_until(&o, rejected.as_deref(), give_up)
                .await
        })
        .await
    }

    /// Runs `work` on a task of its own and waits for it at most `api.deadline`. Past it the
    /// answer is `Busy` (the API says 503 with `Retry-After`) and the miss is counted
    /// (`reauth_api_deadline_missed_total`, [`Self::deadline_misses`]), while the work — an
    /// exchange, its probe, its persist — goes on: it is spawned, not cancelled with the request.
    async fn within_deadline(
        &self,
        org: &OrgId,
        work: impl std::future::Future<Output = Result<Answer>> + Send + 'static,
    ) -> Result<Answer> {
        let task = tokio::spawn(work);
        match tokio::time::timeout(self.inner.config.api.deadline, task).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => Err(Error::Internal(format!(
                "org {org}: the token task failed: {e}"
            ))),
            Err(_) => {
                self.inner
                    .deadline_missed
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                metrics::counter!("reauth_api_deadline_missed_total").increment(1);
                tracing::warn!(org_id = %org, deadline = ?self.inner.config.api.deadline, "a token-API answer missed its deadline; its refresh goes on in the background");
                Ok(Err(VaultError::Busy {
                    org_id: org.clone(),
                }))
            }
        }
    }

    /// How many token-API answers missed `api.deadline` in this process.
    pub fn deadline_misses(&self) -> u64 {
        self.inner
            .deadline_missed
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The answer for an org with no connection to serve: `NoConnection`, or `UnknownOrg` when
    /// the registry has no such org.
    async fn no_connection(&self, org: &OrgId) -> Result<Answer> {
        if org::Entity::find_by_id(org.clone())
            .one(&self.inner.db)
            .await?
            .is_none()
        {
            return Err(Error::UnknownOrg(org.clone()));
        }
        Ok(Err(VaultError::NoConnection {
            org_id: org.clone(),
        }))
    }

    /// The row to serve `org` from, read once admitted (see [`super::admit`]); `Err`: the answer
    /// instead (`busy` when not admitted by `deadline`, or why there is no connection).
    async fn serving_row(
        &self,
        org: &OrgId,
        deadline: tokio::time::Instant,
    ) -> Result<std::result::Result<connection::Model, Answer>> {
        let row = {
            let Some(_permit) = self.admit(deadline).await else {
                return Ok(Err(Err(VaultError::Busy {
                    org_id: org.clone(),
                })));
            };
            self.connection_for(org).await?
        };
        match row {
            Some(c) => Ok(Ok(c)),
            None => self.no_connection(org).await.map(Err),
        }
    }

    /// The [`Self::serving_row`], with this process's lock on it (callers of one connection
    /// queue here, holding no permit), then a permit to refresh it, held while the lock is;
    /// `Err`: the answer instead (`busy` when the lock or the permit is not had by `deadline`).
    async fn locked_row(
        &self,
        org: &OrgId,
        deadline: tokio::time::Instant,
    ) -> Result<std::result::Result<(connection::Model, Locked), Answer>> {
        let c = match self.serving_row(org, deadline).await? {
            Ok(c) => c,
            Err(answer) => return Ok(Err(answer)),
        };
        let lock = async {
            let guard = tokio::time::timeout_at(deadline, self.lock_for(c.id).lock_owned())
                .await
                .ok()?;
            Some((guard, self.admit(deadline).await?))
        };
        match lock.await {
            Some(held) => Ok(Ok((c, held))),
            None => Ok(Err(Err(VaultError::Busy {
                org_id: org.clone(),
            }))),
        }
    }

    /// The connection the token API serves an org from: its best working credential — a working
    /// External Client App connection, else an activated legacy one — or, when neither works,
    /// the one whose state explains why (so the answer can say "consent again" or "held").
    pub(super) async fn connection_for(&self, org: &OrgId) -> Result<Option<connection::Model>> {
        let rows = connection::Entity::find()
            .filter(connection::Column::OrgId.eq(org.as_str()))
            .filter(connection::Column::Status.is_in([
                ConnectionStatus::Active,
                ConnectionStatus::Refreshing,
                ConnectionStatus::NeedsReauth,
                ConnectionStatus::Quarantined,
                ConnectionStatus::Held,
            ]))
            .order_by_desc(connection::Column::Id)
            .all(&self.inner.db)
            .await?;
        Ok(serving(rows))
    }

    /// A usable access token for an org, refreshing through the vault when needed. An org the
    /// registry does not know is `Err(Error::UnknownOrg)` (checked only on a cache miss: a
    /// cached token implies a known org).
    pub async fn access_token(&self, org: &OrgId) -> Result<Answer> {
        self.access_token_until(org, self.give_up_by(false)).await
    }

    /// [`Self::access_token`], every wait giving up at `deadline` (see [`super::admit`]).
    async fn access_token_until(
        &self,
        org: &OrgId,
        deadline: tokio::time::Instant,
    ) -> Result<Answer> {
        if let Some(t) = self.cached(org) {
            return Ok(Ok(t));
        }
        // Read before choosing the connection: a cut-over after this makes the put below a no-op.
        let generation = self.inner.cache.generation(org);
        let (c, _held) = match self.locked_row(org, deadline).await? {
            Ok(x) => x,
            Err(answer) => return Ok(answer),
        };
        // Whoever held the lock before us may have refreshed: look again.
        if let Some(t) = self.cached(org) {
            return Ok(Ok(t));
        }
        let c = self.reload(c.id).await?;
        if let Some(t) = self.fresh_token(&c)? {
            self.inner.cache.put(&t, generation);
            return Ok(Ok(t));
        }
        let answer = self.refresh_locked(c.id, Trigger::Demand, deadline).await?;
        if let Ok(t) = &answer {
            self.inner.cache.put(t, generation);
        }
        Ok(answer)
    }

    /// A forced refresh after the partner saw a 401. If the rejected token is given and the current
    /// one is already newer, or the last exchange is within `heartbeat.min_gap`, the current
    /// token is returned without a new exchange (every exchange is a login in the customer's org).
    pub async fn force_refresh(&self, org: &OrgId, rejected: Option<&str>) -> Result<Answer> {
        self.force_refresh_until(org, rejected, self.give_up_by(false))
            .await
    }

    /// [`Self::force_refresh`], every wait giving up at `deadline` (see [`super::admit`]).
    #[tracing::instrument(skip_all, fields(org_id = %org))]
    async fn force_refresh_until(
        &self,
        org: &OrgId,
        rejected: Option<&str>,
        deadline: tokio::time::Instant,
    ) -> Result<Answer> {
        let generation = self.inner.cache.generation(org);
        let (c, _held) = match self.locked_row(org, deadline).await? {
            Ok(x) => x,
            Err(answer) => return Ok(answer),
        };
        let c = self.reload(c.id).await?;
        if c.status == ConnectionStatus::Active
            && let Some(t) = self.decrypt_access(&c)?
        {
            let newer = rejected.is_some_and(|r| r != t.token.expose_secret());
            let gap =
                chrono::Duration::from_std(self.inner.config.heartbeat.min_gap).unwrap_or_default();
            if newer || self.now() - c.last_exchange_at < gap {
                self.inner.cache.put(&t, generation);
                return Ok(Ok(t));
            }
        }
        self.forget(org.as_str());
        let generation = self.inner.cache.generation(org);
        let answer = self.refresh_locked(c.id, Trigger::Forced, deadline).await?;
        if let Ok(t) = &answer {
            self.inner.cache.put(t, generation);
        }
        Ok(answer)
    }
}

/// A connection's lock in this process and a permit to refresh it.
type Locked = (
    tokio::sync::OwnedMutexGuard<()>,
    tokio::sync::OwnedSemaphorePermit,
);

/// Whether the token API may serve from a connection (active, or active under a refresh).
fn works(c: &connection::Model) -> bool {
    c.status == ConnectionStatus::Active
        || (c.status == ConnectionStatus::Refreshing
            && lease::resting_status(c) == ConnectionStatus::Active)
}

/// The connection the token API serves an org from, among its rows: a working External Client
/// App connection, else a working legacy one (the org page marks it).
pub fn serving_connection(rows: &[connection::Model]) -> Option<&connection::Model> {
    let newest = |app| {
        rows.iter()
            .filter(|c| c.app == app && works(c))
            .max_by_key(|c| c.id)
    };
    newest(ConnectionApp::Eca).or_else(|| newest(ConnectionApp::Legacy))
}

/// Picks the connection to serve from an org's rows (newest first); see `connection_for`.
fn serving(rows: Vec<connection::Model>) -> Option<connection::Model> {
    let pick = |app: ConnectionApp, ok: &dyn Fn(&connection::Model) -> bool| {
        rows.iter().position(|c| c.app == app && ok(c))
    };
    let i = pick(ConnectionApp::Eca, &works)
        .or_else(|| pick(ConnectionApp::Legacy, &works))
        .or_else(|| {
            pick(ConnectionApp::Eca, &|c| {
                c.status != ConnectionStatus::Refreshing
            })
        })
        .or_else(|| pick(ConnectionApp::Legacy, &|_| true))
        .or_else(|| (!rows.is_empty()).then_some(0))?;
    rows.into_iter().nth(i)
}
