//! Verification: a new connection is trusted only after its access token works at the identity
//! URL and names the org that was asked. Then it is promoted, the org is verified, and every
//! older live connection of the org is retired through the vault (so exactly one grant stays
//! live). A failed check is retried on a schedule — the connection is heartbeated meanwhile,
//! since it holds a real refresh token — and alerts after the retries.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use secrecy::SecretString;

use super::{APP, Flow};
use crate::alerts::{self, Severity};
use crate::entity::connection::{self, ConnectionApp, ConnectionStatus};
use crate::error::{Error, Result};
use crate::events::{self, Actor};
use crate::registry::state::{self, Change, OrgState};
use crate::salesforce::IdUrl;
use crate::types::OrgId;
use crate::vault::Retired;
use crate::vault::store;

/// Pauses before each automatic retry of a failed verification; after the last one, a retry a
/// day, and an alert.
const RETRY_AFTER: [i64; 5] = [60, 5 * 60, 30 * 60, 2 * 3600, 12 * 3600];
const RETRY_DAILY: i64 = 24 * 3600;

/// What a verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verified {
    /// Promoted; `replaced`: older connections were retired.
    Yes {
        replaced: bool,
    },
    Failed(String),
}

/// Verifies connection `conn_id` of org `expected` with `access_token` (the one the consent just
/// returned), or with a fresh one from the vault.
#[tracing::instrument(skip_all, fields(org_id = %expected, connection_id = conn_id))]
pub(super) async fn verify(
    flow: &Flow<'_>,
    expected: &OrgId,
    conn_id: i64,
    access_token: Option<&SecretString>,
    now: DateTime<Utc>,
) -> Result<Verified> {
    let conn = load(flow, conn_id).await?;
    let id_url = IdUrl::parse(&conn.id_url, &flow.config.salesforce.extra_login_hosts)
        .map_err(|e| Error::Internal(format!("connection {conn_id}: {e}")))?;
    let token = match access_token {
        Some(t) => Ok(t.clone()),
        None => match flow.vault.access_token_for(conn_id).await? {
            Ok(t) => Ok(t.token),
            Err(e) => Err(e.to_string()),
        },
    };
    let outcome = match token {
        Ok(t) => match flow.sf().identity(&id_url, &t).await {
            Ok(id) if OrgId::parse(&id.organization_id).ok().as_ref() == Some(expected) => {
                Ok(id.username)
            }
            Ok(id) => Err(format!(
                "the identity URL reports org {}",
                id.organization_id
            )),
            Err(e) => Err(e.to_string()),
        },
        Err(e) => Err(e),
    };
    match outcome {
        Ok(username) => promote(flow, expected, &conn, username, now).await,
        Err(reason) => failed(flow, expected, &conn, reason, now).await,
    }
}

async fn promote(
    flow: &Flow<'_>,
    expected: &OrgId,
    conn: &connection::Model,
    username: Option<String>,
    now: DateTime<Utc>,
) -> Result<Verified> {
    // The legacy connection the partner's services use today, if any: the new one takes over
    // only if it is the same Salesforce user with the same scopes, else staff decide.
    let legacy = store::find(
        flow.db,
        expected,
        ConnectionApp::Legacy,
        &[
            ConnectionStatus::Active,
            ConnectionStatus::Refreshing,
            ConnectionStatus::Held,
        ],
    )
    .await?
    .into_iter()
    .next();
    let differs = legacy
        .as_ref()
        .and_then(|l| crate::legacy::differs(l, conn));
    if let Err(status) = flow
        .vault
        .promote(conn.id, username, differs.is_some())
        .await?
    {
        return Ok(Verified::Failed(format!(
            "the connection is {status}, no longer waiting for verification"
        )));
    }
    if differs.is_none() {
        // The cut-over: every process drops the org's cached (legacy) tokens and serves this
        // connection from its next call.
        flow.vault.invalidate(expected).await?;
    }
    // Also moves an org that waited on the partner after a failed verification.
    state::apply(
        flow.db,
        expected,
        Change::Advance(OrgState::Verified),
        &Actor::System,
        now,
    )
    .await?;
    crate::campaign::notices::enqueue(
        flow.db,
        expected,
        crate::campaign::notices::NoticeKind::Confirmation,
        format!("{}|confirmation|{}", expected, conn.id),
        now,
    )
    .await?;
    events::record_system(
        flow.db,
        now,
        expected,
        "connection.verified",
        serde_json::json!({ "connection_id": conn.id, "attempts": conn.verify_attempts + 1 }),
    )
    .await?;
    if let Some(why) = differs {
        let reason = format!(
            "the new connection is kept on standby and the legacy one still serves: {why}; accept the new user on the org page if the partner's services can work as that user"
        );
        state::needs_attention(flow.db, expected, reason, "csm", now).await?;
        events::record_system(
            flow.db,
            now,
            expected,
            "connection.standby",
            serde_json::json!({ "connection_id": conn.id, "why": why }),
        )
        .await?;
        return Ok(Verified::Yes { replaced: false });
    }
    // Only now retire every older live connection, each with its newest token.
    let older: Vec<_> = store::find(
        flow.db,
        expected,
        APP,
        &[
            ConnectionStatus::Active,
            ConnectionStatus::Refreshing,
            ConnectionStatus::Verifying,
            ConnectionStatus::Quarantined,
        ],
    )
    .await?
    .into_iter()
    .filter(|c| c.id < conn.id)
    .collect();
    let replaced = !older.is_empty();
    for old in older {
        let outcome = match flow
            .vault
            .retire(old.id, ConnectionStatus::Superseded)
            .await?
        {
            Retired::Done { revoke } => revoke,
            Retired::Already(s) => format!("already {s}"),
        };
        events::record_system(
            flow.db,
            now,
            expected,
            "connection.superseded",
            serde_json::json!({ "connection_id": old.id, "by": conn.id, "old_token": outcome }),
        )
        .await?;
    }
    Ok(Verified::Yes { replaced })
}

async fn failed(
    flow: &Flow<'_>,
    expected: &OrgId,
    conn: &connection::Model,
    reason: String,
    now: DateTime<Utc>,
) -> Result<Verified> {
    let retries = usize::try_from(conn.verify_attempts).unwrap_or(usize::MAX);
    let pause = RETRY_AFTER.get(retries).copied().unwrap_or(RETRY_DAILY);
    let next = now + chrono::Duration::seconds(pause);
    let attempts = match flow
        .vault
        .verification_failed(conn.id, Some(next), &reason)
        .await?
    {
        Ok(a) => a,
        Err(status) => {
            return Ok(Verified::Failed(format!(
                "the connection is {status}, no longer waiting for verification"
            )));
        }
    };
    if attempts == 1 {
        state::needs_attention(
            flow.db,
            expected,
            format!("verification of the new connection failed: {reason}"),
            "partner",
            now,
        )
        .await?;
    }
    let details = serde_json::json!({ "connection_id": conn.id, "reason": reason, "attempts": attempts, "next_attempt_at": next });
    events::record_system(
        flow.db,
        now,
        expected,
        "connection.verification_failed",
        details,
    )
    .await?;
    if usize::try_from(attempts).unwrap_or(0) == RETRY_AFTER.len() + 1 {
        alerts::raise(
            flow.db,
            "connection.verification_failing",
            Severity::Critical,
            Some(expected),
            &format!(
                "The new connection could not be verified after {attempts} attempts ({reason}); it is kept alive and retried daily."
            ),
            serde_json::json!({ "connection_id": conn.id }),
            now,
        )
        .await?;
    }
    Ok(Verified::Failed(reason))
}

async fn load(flow: &Flow<'_>, connection_id: i64) -> Result<connection::Model> {
    connection::Entity::find_by_id(connection_id)
        .one(flow.db)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no connection {connection_id}")))
}

/// What retrying a connection's verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retry {
    Verified,
    Failed(String),
}

/// Retries the verification of a connection that is still `verifying` (by hand, from the
/// dashboard).
pub async fn retry_verification(
    flow: &Flow<'_>,
    connection_id: i64,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Retry> {
    let conn = load(flow, connection_id).await?;
    if conn.status != ConnectionStatus::Verifying {
        return Err(Error::Invalid(format!(
            "connection {connection_id} is {}, not waiting for verification",
            conn.status
        )));
    }
    let org_id = conn.org_id.clone();
    events::record(
        flow.db,
        now,
        actor,
        Some(&org_id),
        "connection.verification_retried",
        serde_json::json!({ "connection_id": conn.id }),
    )
    .await?;
    Ok(match verify(flow, &org_id, conn.id, None, now).await? {
        Verified::Yes { .. } => Retry::Verified,
        Verified::Failed(reason) => Retry::Failed(reason),
    })
}

/// What a verification sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VerifySweep {
    pub verified: usize,
    pub failed: usize,
}

/// Retries every verification that is due (the worker's `verify` job).
pub async fn verify_due(flow: &Flow<'_>, now: DateTime<Utc>, limit: u64) -> Result<VerifySweep> {
    let due = connection::Entity::find()
        .filter(connection::Column::Status.eq(ConnectionStatus::Verifying))
        .filter(Expr::col(connection::Column::NextVerifyAt).lte(now))
        .order_by_asc(connection::Column::NextVerifyAt)
        .limit(limit)
        .all(flow.db)
        .await?;
    let mut report = VerifySweep::default();
    for conn in due {
        let org_id = conn.org_id.clone();
        match verify(flow, &org_id, conn.id, None, now).await? {
            Verified::Yes { .. } => report.verified += 1,
            Verified::Failed(_) => report.failed += 1,
        }
    }
    Ok(report)
}

/// Revokes a connection's grant at Salesforce and marks it revoked. Revoking the org's working
/// connection sends the org back to re-consent.
pub async fn revoke_connection(
    flow: &Flow<'_>,
    connection_id: i64,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<String> {
    let conn = load(flow, connection_id).await?;
    let org_id = conn.org_id.clone();
    let outcome = match flow
        .vault
        .retire(connection_id, ConnectionStatus::Revoked)
        .await?
    {
        Retired::Done { revoke } => revoke,
        Retired::Already(s) => {
            return Err(Error::Invalid(format!(
                "connection {connection_id} is already {s}"
            )));
        }
    };
    events::record(
        flow.db,
        now,
        actor,
        Some(&org_id),
        "connection.revoked",
        serde_json::json!({ "connection_id": conn.id, "app": conn.app, "outcome": outcome }),
    )
    .await?;
    let working = conn.app == APP
        && matches!(
            conn.status,
            ConnectionStatus::Active | ConnectionStatus::Refreshing
        );
    if working
        && store::find(flow.db, &org_id, APP, &[ConnectionStatus::Active])
            .await?
            .is_empty()
    {
        state::apply(
            flow.db,
            &org_id,
            Change::NeedsReauth {
                reason: format!(
                    "connection {} was revoked by {}",
                    conn.id,
                    actor.name().unwrap_or("staff")
                ),
            },
            actor,
            now,
        )
        .await?;
    }
    Ok(outcome)
}
