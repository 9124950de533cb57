//! One connection's stored tokens: reading the row, opening its access token, refreshing it by id.

use chrono::{DateTime, Utc};
use sea_orm::EntityTrait;

use super::{AccessToken, Answer, FRESHNESS_MARGIN, Trigger, Vault, VaultError};
use crate::entity::connection::{self, ConnectionStatus};
use crate::error::{Error, Result};
use crate::vault::store::aad;

impl Vault {
    /// Refreshes one connection now (the heartbeat's entry point). A heartbeat refresh happens
    /// only if the connection is still due when its lease is taken.
    pub async fn refresh(&self, connection_id: i64, trigger: Trigger) -> Result<Answer> {
        let deadline = tokio::time::Instant::now() + self.inner.opts.max_wait;
        let lock = self.lock_for(connection_id);
        let _guard = if trigger == Trigger::Heartbeat {
            // This process is already refreshing it for someone: nothing for the heartbeat to do.
            match lock.try_lock() {
                Ok(g) => g,
                Err(_) => return self.busy(connection_id).await,
            }
        } else {
            match tokio::time::timeout_at(deadline, lock.lock()).await {
                Ok(g) => g,
                Err(_) => return self.busy(connection_id).await,
            }
        };
        self.refresh_locked(connection_id, trigger, deadline).await
    }

    pub(super) async fn busy(&self, connection_id: i64) -> Result<Answer> {
        let c = self.reload(connection_id).await?;
        Ok(Err(VaultError::Busy {
            org_id: c.org_id.clone(),
        }))
    }

    /// A usable access token for one connection, whatever its status: the stored one while it
    /// is fresh, else a refresh (verification of a `verifying` connection uses this).
    pub async fn access_token_for(&self, connection_id: i64) -> Result<Answer> {
        let c = self.reload(connection_id).await?;
        if matches!(
            c.status,
            ConnectionStatus::Active | ConnectionStatus::Verifying
        ) && let Some(t) = self
            .decrypt_access(&c)?
            .filter(|t| t.fresh_until > self.now())
        {
            return Ok(Ok(t));
        }
        self.refresh(connection_id, Trigger::Verification).await
    }

    /// The connection's stored access token if it is still fresh, else `None`: never an exchange
    /// (the token-use monitor reads LoginHistory only with a token it already has).
    pub async fn fresh_access_for(&self, connection_id: i64) -> Result<Option<AccessToken>> {
        let c = self.reload(connection_id).await?;
        if c.status != ConnectionStatus::Active {
            return Ok(None);
        }
        Ok(self
            .decrypt_access(&c)?
            .filter(|t| t.fresh_until > self.now()))
    }

    pub(super) async fn reload(&self, id: i64) -> Result<connection::Model> {
        connection::Entity::find_by_id(id)
            .one(&self.inner.db)
            .await?
            .ok_or_else(|| Error::Internal(format!("connection {id} vanished")))
    }

    pub(super) fn decrypt_access(&self, c: &connection::Model) -> Result<Option<AccessToken>> {
        let (Some(ct), Some(key), Some(at)) = (&c.access_token_ct, &c.key_id, c.access_token_at)
        else {
            return Ok(None);
        };
        let token = self
            .inner
            .sealer
            .open_str(key, ct, &aad(c.id, "access_token"))
            .map_err(|e| Error::Internal(format!("connection {}: {e}", c.id)))?;
        Ok(Some(self.token(c, token, c.instance_url.clone(), at)?))
    }

    pub(super) fn token(
        &self,
        c: &connection::Model,
        token: secrecy::SecretString,
        instance_url: String,
        at: DateTime<Utc>,
    ) -> Result<AccessToken> {
        let timeout = chrono::Duration::from_std(self.inner.config.salesforce.session_timeout)
            .unwrap_or_default();
        Ok(AccessToken {
            org_id: c.org_id.clone(),
            connection_id: c.id,
            app: c.app,
            sf_user_id: c.sf_user_id.clone(),
            token,
            instance_url,
            issued_at: at,
            fresh_until: at + timeout - FRESHNESS_MARGIN,
        })
    }

    pub(super) fn fresh_token(&self, c: &connection::Model) -> Result<Option<AccessToken>> {
        if c.status != ConnectionStatus::Active {
            return Ok(None);
        }
        Ok(self
            .decrypt_access(c)?
            .filter(|t| t.fresh_until > self.now()))
    }
}
