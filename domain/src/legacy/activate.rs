//! Activation: the partner hands an org's held legacy connection to reauth at the moment its
//! services switch to the token API. From then on reauth is the only refresher.
//!
//! The first exchange after activation checks whose token it is: Salesforce's answer must name
//! the row's org and user (a partner's token table can be wrong). On a mismatch the vault keeps
//! the new token sealed, serves nothing for the org and raises a critical alert. `verify` makes
//! that first exchange at once and reports tokens that were already dead.

use serde::Serialize;

use crate::entity::connection::{ConnectionApp, ConnectionStatus};
use crate::error::Result;
use crate::events::{self, Actor};
use crate::types::OrgId;
use crate::vault::{Trigger, Vault, VaultError, store};

/// What activating one org did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Activated {
    /// Handed over (and, verified, its first exchange worked).
    Active { connection_id: i64, verified: bool },
    /// The first exchange found the token dead; the connection needs re-consent.
    Dead { connection_id: i64, reason: String },
    /// The first exchange named another org or user: held for review, nothing served.
    Mismatch { connection_id: i64, reason: String },
    /// The first exchange could not be made now (Salesforce unavailable, a setup problem); the
    /// connection is active and the heartbeat tries again.
    Unchecked { connection_id: i64, reason: String },
}

/// Why an org could not be activated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotActivated {
    pub org_id: OrgId,
    pub reason: String,
}

/// Activates an org's held legacy connection.
pub async fn activate_org(
    vault: &Vault,
    org: &OrgId,
    actor: &Actor,
) -> Result<std::result::Result<i64, NotActivated>> {
    let held = store::find(
        vault.db(),
        org,
        ConnectionApp::Legacy,
        &[ConnectionStatus::Held],
    )
    .await?
    .into_iter()
    .next();
    let Some(c) = held else {
        let any = store::find(
            vault.db(),
            org,
            ConnectionApp::Legacy,
            &[ConnectionStatus::Active, ConnectionStatus::Refreshing],
        )
        .await?;
        let reason = if any.is_empty() {
            "it has no held legacy connection (import one with `reauth legacy import`)"
        } else {
            "its legacy connection is already active"
        };
        return Ok(Err(NotActivated {
            org_id: org.clone(),
            reason: reason.into(),
        }));
    };
    if let Err(status) = vault.activate(c.id).await? {
        return Ok(Err(NotActivated {
            org_id: org.clone(),
            reason: format!("its legacy connection is {status}, not held"),
        }));
    }
    events::record(
        vault.db(),
        vault.leases().clock_now(),
        actor,
        Some(org),
        "legacy.activated",
        serde_json::json!({ "connection_id": c.id }),
    )
    .await?;
    Ok(Ok(c.id))
}

/// Activates and, with `verify`, makes the first exchange at once.
pub async fn activate(
    vault: &Vault,
    org: &OrgId,
    verify: bool,
    actor: &Actor,
) -> Result<std::result::Result<Activated, NotActivated>> {
    let id = match activate_org(vault, org, actor).await? {
        Ok(id) => id,
        Err(e) => return Ok(Err(e)),
    };
    if !verify {
        return Ok(Ok(Activated::Active {
            connection_id: id,
            verified: false,
        }));
    }
    Ok(Ok(match vault.refresh(id, Trigger::Verification).await? {
        Ok(_) => Activated::Active {
            connection_id: id,
            verified: true,
        },
        Err(VaultError::NeedsReauth { reason, .. }) => Activated::Dead {
            connection_id: id,
            reason: format!("legacy token was already dead: {reason}"),
        },
        Err(VaultError::Quarantined { reason, .. }) => Activated::Mismatch {
            connection_id: id,
            reason,
        },
        Err(e) => Activated::Unchecked {
            connection_id: id,
            reason: e.to_string(),
        },
    }))
}

/// Every org with a held legacy connection.
pub async fn held_orgs(db: &sea_orm::DatabaseConnection) -> Result<Vec<OrgId>> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
    let mut orgs: Vec<OrgId> = crate::entity::connection::Entity::find()
        .select_only()
        .column(crate::entity::connection::Column::OrgId)
        .filter(crate::entity::connection::Column::App.eq(ConnectionApp::Legacy))
        .filter(crate::entity::connection::Column::Status.eq(ConnectionStatus::Held))
        .order_by_asc(crate::entity::connection::Column::OrgId)
        .into_tuple()
        .all(db)
        .await?;
    orgs.dedup();
    Ok(orgs)
}

/// "Accept the new user": the org's standby External Client App connection (consented by
/// another Salesforce user, or without a scope the legacy grant has) serves from now on; the
/// legacy connection is left to retirement, the org resumes. Returns the connection's id, or why
/// not.
pub async fn accept_new_user(
    vault: &Vault,
    org: &OrgId,
    actor: &Actor,
) -> Result<std::result::Result<i64, String>> {
    let standby = store::find(
        vault.db(),
        org,
        ConnectionApp::Eca,
        &[ConnectionStatus::Standby],
    )
    .await?
    .into_iter()
    .next();
    let Some(c) = standby else {
        return Ok(Err(
            "it has no External Client App connection on standby".into()
        ));
    };
    if let Err(s) = vault.accept_standby(c.id).await? {
        return Ok(Err(format!("its connection is {s}, no longer on standby")));
    }
    let now = vault.leases().clock_now();
    // Older External Client App connections are replaced, as after any verification.
    for old in store::find(
        vault.db(),
        org,
        ConnectionApp::Eca,
        &[ConnectionStatus::Active, ConnectionStatus::Quarantined],
    )
    .await?
    .into_iter()
    .filter(|o| o.id < c.id)
    {
        vault.retire(old.id, ConnectionStatus::Superseded).await?;
    }
    match crate::registry::state::apply(
        vault.db(),
        org,
        crate::registry::state::Change::Resume,
        actor,
        now,
    )
    .await
    {
        Ok(_) | Err(crate::Error::InvalidTransition { .. }) => {}
        Err(e) => return Err(e),
    }
    events::record(
        vault.db(),
        now,
        actor,
        Some(org),
        "connection.accepted",
        serde_json::json!({ "connection_id": c.id, "sf_user_id": c.sf_user_id }),
    )
    .await?;
    Ok(Ok(c.id))
}
