//! Retirement: once an org's External Client App connection has been verified for
//! `legacy.retire_after` and has refreshed since, its legacy grant is revoked.
//!
//! Two steps, each resumable: the legacy connection is taken out of service (`retiring`) and
//! every process's token cache is invalidated; once the invalidation has reached them all, the
//! grant is revoked at Salesforce (the `token` form field on `/services/oauth2/revoke` at the
//! connection's login host). Success marks it `revoked` and the org `legacy_retired`; a failure
//! is retried with backoff and alerted after [`REVOKE_ALERT_AFTER`] attempts.

use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;

use crate::alerts::{self, Severity};
use crate::entity::connection::{self, ConnectionApp, ConnectionStatus};
use crate::error::Result;
use crate::events::{self, Actor};
use crate::registry::state::{self, Change, OrgState};
use crate::types::OrgId;
use crate::vault::{REVOKE_ALERT_AFTER, RevokeOutcome, Vault, store};

/// What one pass of the retirement job did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Pass {
    /// Legacy connections taken out of service this pass.
    pub started: usize,
    /// Legacy grants revoked at Salesforce this pass.
    pub revoked: usize,
    /// Revocations that failed (retried later).
    pub failed: usize,
}

/// Rows handled per pass.
const PAGE: u64 = 10_000;

/// The retirement job's pass: starts every due retirement and makes every due revocation.
pub async fn run(vault: &Vault, actor: &Actor) -> Result<Pass> {
    let started = start_due(vault, actor).await?;
    let (revoked, failed) = revoke_due(vault, actor).await?;
    Ok(Pass {
        started,
        revoked,
        failed,
    })
}

/// Takes out of service every legacy connection whose org's External Client App connection has
/// proven itself; returns how many. Their revocations fall due once the invalidation has reached
/// every process.
pub async fn start_due(vault: &Vault, actor: &Actor) -> Result<usize> {
    let now = vault.leases().clock_now();
    let retire_after = chrono::Duration::from_std(vault.config().legacy.retire_after)
        .unwrap_or(chrono::Duration::days(7));
    let mut started = 0;
    for legacy in due(vault, now - retire_after).await? {
        if start(vault, &legacy, actor).await? {
            started += 1;
        }
    }
    Ok(started)
}

/// Active legacy connections whose org has an External Client App connection verified before
/// `verified_before` and refreshed since its verification.
async fn due(vault: &Vault, verified_before: DateTime<Utc>) -> Result<Vec<connection::Model>> {
    let db = vault.db();
    let ecas = connection::Entity::find()
        .filter(connection::Column::App.eq(ConnectionApp::Eca))
        .filter(connection::Column::Status.eq(ConnectionStatus::Active))
        .filter(connection::Column::VerifiedAt.lte(verified_before))
        .limit(PAGE)
        .all(db)
        .await?;
    let proven: std::collections::HashSet<OrgId> = ecas
        .into_iter()
        .filter(|c| c.verified_at.is_some_and(|v| c.last_exchange_at > v))
        .map(|c| c.org_id)
        .collect();
    if proven.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<_> = proven.iter().map(OrgId::as_str).collect();
    let mut out = Vec::new();
    for chunk in ids.chunks(1000) {
        out.extend(
            connection::Entity::find()
                .filter(connection::Column::App.eq(ConnectionApp::Legacy))
                .filter(connection::Column::Status.eq(ConnectionStatus::Active))
                .filter(connection::Column::OrgId.is_in(chunk.iter().copied()))
                .all(db)
                .await?,
        );
    }
    Ok(out)
}

/// Takes one legacy connection out of service. `false`: it was no longer active.
#[tracing::instrument(skip_all, fields(org_id = %legacy.org_id, connection = legacy.id))]
async fn start(vault: &Vault, legacy: &connection::Model, actor: &Actor) -> Result<bool> {
    let Ok(due) = vault.start_retirement(legacy.id).await? else {
        return Ok(false);
    };
    events::record(
        vault.db(),
        vault.leases().clock_now(),
        actor,
        Some(&legacy.org_id),
        "legacy.retiring",
        serde_json::json!({ "connection_id": legacy.id, "revoke_at": due }),
    )
    .await?;
    Ok(true)
}

/// Makes every due revocation, a few at a time (per login host). Returns (revoked, failed).
pub async fn revoke_due(vault: &Vault, actor: &Actor) -> Result<(usize, usize)> {
    let now = vault.leases().clock_now();
    let rows = connection::Entity::find()
        .filter(connection::Column::Status.eq(ConnectionStatus::Retiring))
        .filter(connection::Column::NextRevokeAt.lte(now))
        .order_by_asc(connection::Column::NextRevokeAt)
        .limit(PAGE)
        .all(vault.db())
        .await?;
    let concurrency = vault.config().heartbeat.concurrency.max(1);
    let results: Vec<Result<Option<bool>>> = futures::stream::iter(rows)
        .map(|c| async move { revoke_one(vault, &c, actor).await })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let (mut revoked, mut failed) = (0, 0);
    for r in results {
        match r? {
            Some(true) => revoked += 1,
            Some(false) => failed += 1,
            None => {}
        }
    }
    Ok((revoked, failed))
}

/// One revocation attempt. `Some(true)`: revoked; `Some(false)`: failed; `None`: not due.
#[tracing::instrument(skip_all, fields(org_id = %c.org_id, connection = c.id))]
async fn revoke_one(vault: &Vault, c: &connection::Model, actor: &Actor) -> Result<Option<bool>> {
    let db = vault.db();
    match vault.revoke_retiring(c.id).await? {
        RevokeOutcome::NotDue => Ok(None),
        RevokeOutcome::Revoked { detail } => {
            let details = serde_json::json!({ "connection_id": c.id, "revoke": detail });
            let now = attempted(vault, c, actor, "legacy.retired", details).await?;
            // Only an org served by the External Client App is "retired"; one whose ECA grant
            // died meanwhile is back in the campaign and stays there.
            let _ = state::apply(
                db,
                &c.org_id,
                Change::Advance(OrgState::LegacyRetired),
                actor,
                now,
            )
            .await
            .or_else(|e| match e {
                crate::Error::InvalidTransition { .. } => {
                    Ok(state::Outcome::Unchanged(OrgState::NeedsReauth))
                }
                e => Err(e),
            })?;
            Ok(Some(true))
        }
        RevokeOutcome::Failed {
            attempts,
            next,
            detail,
        } => {
            let details = serde_json::json!({ "connection_id": c.id, "attempts": attempts, "next_attempt_at": next, "detail": detail });
            let now = attempted(vault, c, actor, "legacy.revoke_failed", details).await?;
            if attempts == REVOKE_ALERT_AFTER {
                alerts::raise(
                    db,
                    "legacy.revoke_failing",
                    Severity::Warning,
                    Some(&c.org_id),
                    &format!(
                        "The legacy grant could not be revoked after {attempts} attempts ({detail}); reauth keeps trying. It is out of service either way, but it stays live at Salesforce until revoked."
                    ),
                    serde_json::json!({ "connection_id": c.id }),
                    now,
                )
                .await?;
            }
            Ok(Some(false))
        }
    }
}

/// Records how a revocation attempt of `c` went (`kind`), at the lease clock's time after the
/// attempt; answers that time.
async fn attempted(
    vault: &Vault,
    c: &connection::Model,
    actor: &Actor,
    kind: &str,
    details: serde_json::Value,
) -> Result<DateTime<Utc>> {
    let now = vault.leases().clock_now();
    events::record(vault.db(), now, actor, Some(&c.org_id), kind, details).await?;
    Ok(now)
}

/// What `reauth legacy retire` did (or would do) for one org.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ByHand {
    pub org_id: OrgId,
    /// `retired`, `retiring` (revocation pending), `would_retire` (dry run) or `refused`.
    pub result: &'static str,
    pub detail: String,
}

/// Retires the named orgs' legacy connections by hand. Without `now`, only orgs whose External
/// Client App connection has been verified for `retire_after`; with it, any org that connection
/// serves. Never an org with no working External Client App connection: retiring would leave
/// the partner's services with nothing.
pub async fn by_hand(
    vault: &Vault,
    orgs: &[OrgId],
    now: bool,
    dry_run: bool,
    actor: &Actor,
) -> Result<Vec<ByHand>> {
    let mut out = Vec::new();
    let clock = vault.leases().clock_now();
    let retire_after = chrono::Duration::from_std(vault.config().legacy.retire_after)
        .unwrap_or(chrono::Duration::days(7));
    let mut started = Vec::new();
    for org in orgs {
        let db = vault.db();
        let refuse = |detail: String| ByHand {
            org_id: org.clone(),
            result: "refused",
            detail,
        };
        let legacy = store::find(
            db,
            org,
            ConnectionApp::Legacy,
            &[
                ConnectionStatus::Active,
                ConnectionStatus::Refreshing,
                ConnectionStatus::Held,
            ],
        )
        .await?;
        let Some(legacy) = legacy.into_iter().next() else {
            out.push(refuse("it has no live legacy connection".into()));
            continue;
        };
        if legacy.status == ConnectionStatus::Held {
            out.push(refuse(
                "its legacy connection is held: the partner's services still refresh that token themselves; activate it first (`reauth legacy activate`)".into(),
            ));
            continue;
        }
        let eca = store::find(db, org, ConnectionApp::Eca, &[ConnectionStatus::Active])
            .await?
            .into_iter()
            .next();
        let Some(eca) = eca else {
            out.push(refuse(
                "no verified External Client App connection serves it; retiring the legacy one would leave the partner's services with no token".into(),
            ));
            continue;
        };
        let verified = eca.verified_at.unwrap_or(eca.created_at);
        if !now && verified > clock - retire_after {
            out.push(refuse(format!(
                "its External Client App connection was verified {} ago, less than legacy.retire_after ({}); pass --now to retire it anyway",
                crate::config::format_duration((clock - verified).to_std().unwrap_or_default()),
                crate::config::format_duration(vault.config().legacy.retire_after),
            )));
            continue;
        }
        if dry_run {
            out.push(ByHand {
                org_id: org.clone(),
                result: "would_retire",
                detail: format!("legacy connection {}", legacy.id),
            });
            continue;
        }
        if start(vault, &legacy, actor).await? {
            started.push((org.clone(), legacy.id));
        } else {
            out.push(refuse(
                "its legacy connection changed meanwhile; try again".into(),
            ));
        }
    }
    if started.is_empty() {
        return Ok(out);
    }
    // Revoke only once every process has dropped the orgs' cached legacy tokens.
    tokio::time::sleep(vault.invalidation_horizon()).await;
    for (org, id) in started {
        let c = vault_row(vault, id).await?;
        let detail = match revoke_one(vault, &c, actor).await? {
            Some(true) => ("retired", "revoked at Salesforce".to_owned()),
            Some(false) => (
                "retiring",
                "out of service; Salesforce did not confirm the revocation yet (retried by the worker)".to_owned(),
            ),
            None => ("retiring", "out of service; the revocation is pending".to_owned()),
        };
        out.push(ByHand {
            org_id: org,
            result: detail.0,
            detail: detail.1,
        });
    }
    Ok(out)
}

async fn vault_row(vault: &Vault, id: i64) -> Result<connection::Model> {
    connection::Entity::find_by_id(id)
        .one(vault.db())
        .await?
        .ok_or_else(|| crate::Error::Invalid(format!("connection {id} vanished")))
}
