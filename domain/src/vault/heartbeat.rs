//! The heartbeat: Salesforce's idle clock is reset only by a refresh-token exchange, so every
//! connection gets a real refresh before `heartbeat.interval` passes (jittered so load spreads),
//! with bounded concurrency overall and per Salesforce instance. Leases found expired while
//! `refreshing` (a worker died mid-rotation) are recovered in the same sweep. Nothing is
//! refreshed while the breaker is tripped, and a sweep that trips it stops there.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt as _;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use tokio::sync::Semaphore;

use super::{Trigger, Vault, VaultError};
use crate::entity::connection::{self, ConnectionApp, ConnectionStatus};
use crate::error::Result;
use crate::security::incident::breaker;

/// What one sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    pub due: usize,
    pub refreshed: usize,
    pub needs_reauth: usize,
    /// Another process held the lease: its refresh counts, not ours.
    pub skipped: usize,
    pub failed: usize,
    pub errors: usize,
    /// Left alone because the breaker tripped (before or during this sweep).
    pub paused: usize,
}

/// Rows read per page: memory stays bounded however many connections are due.
const PAGE: u64 = 1000;

/// Refreshes up to `limit` due connections, a page at a time.
pub async fn sweep(v: &Vault, limit: u64) -> Result<SweepReport> {
    let mut report = SweepReport::default();
    if breaker::is_tripped(v.db()).await? {
        return Ok(report);
    }
    let mut seen = std::collections::HashSet::new();
    let page_size = std::cmp::max(PAGE, v.config().heartbeat.concurrency as u64 * 8);
    while (report.due as u64) < limit {
        let page = due_page(v, std::cmp::min(page_size, limit - report.due as u64)).await?;
        let fresh: Vec<_> = page.into_iter().filter(|c| seen.insert(c.id)).collect();
        if fresh.is_empty() {
            break;
        }
        if sweep_page(v, fresh, &mut report).await {
            break;
        }
    }
    Ok(report)
}

/// The `n` connections due soonest: every status that holds a live refresh token (a
/// `verifying` one too: it must not idle out while its verification is retried) past its
/// `next_heartbeat_at`, and every `refreshing` row whose lease ran out (a holder died).
///
/// One query per status, each `status = … ORDER BY next_heartbeat_at LIMIT n` — an ordered walk
/// of the `(status, next_heartbeat_at)` index that stops after `n` rows — merged here. The same
/// rows as one `status IN (…) OR …` query, which no planner serves in index order: at 1,000,000
/// due connections that query read every due row (≈ 1 GB) and sorted it for each page of 2,048,
/// so a sweep's cost grew with the square of its size (BENCHMARKS.md, 2026-12-08).
async fn due_page(v: &Vault, n: u64) -> Result<Vec<connection::Model>> {
    let now = v.leases().now_expr();
    let branch = |status: ConnectionStatus| {
        let mut q = connection::Entity::find().filter(connection::Column::Status.eq(status));
        if !v.config().legacy.keep_alive {
            // Activated legacy connections are then refreshed only when the token API needs them.
            q = q.filter(connection::Column::App.ne(ConnectionApp::Legacy));
        }
        let due = if status == ConnectionStatus::Refreshing {
            Expr::col(connection::Column::LeaseExpiresAt).lt(now.clone())
        } else {
            Expr::col(connection::Column::NextHeartbeatAt).lte(now.clone())
        };
        q.filter(due)
            .order_by_asc(connection::Column::NextHeartbeatAt)
            .limit(n)
            .all(v.db())
    };
    let (active, verifying, standby, refreshing) = futures::try_join!(
        branch(ConnectionStatus::Active),
        branch(ConnectionStatus::Verifying),
        branch(ConnectionStatus::Standby),
        branch(ConnectionStatus::Refreshing),
    )?;
    let mut due: Vec<connection::Model> = [active, verifying, standby, refreshing].concat();
    due.sort_by_key(|c| (c.next_heartbeat_at, c.id));
    due.truncate(usize::try_from(n).unwrap_or(usize::MAX));
    Ok(due)
}

/// Refreshes one page; answers whether the breaker tripped meanwhile (the rest is left alone).
async fn sweep_page(v: &Vault, due: Vec<connection::Model>, report: &mut SweepReport) -> bool {
    let hb = &v.config().heartbeat;
    let per_instance = hb.per_instance.max(1);
    let mut instances: HashMap<String, Arc<Semaphore>> = HashMap::new();
    let jobs: Vec<_> = due
        .into_iter()
        .map(|c| {
            let instance = instances
                .entry(c.instance_url.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(per_instance)))
                .clone();
            (c, instance)
        })
        .collect();
    report.due += jobs.len();
    let tripped = &AtomicBool::new(false);
    // Rows are claimed as their refreshes start, many in one statement (`sweep_claim`).
    let (claims, to_claim) = tokio::sync::mpsc::unbounded_channel();
    let refreshes = async move {
        let claims = &claims;
        futures::stream::iter(jobs)
            .map(|(c, instance)| async move {
                let _permit = instance.acquire_owned().await;
                if tripped.load(Ordering::Relaxed) {
                    return None;
                }
                let r = if v.inner.opts.per_row_claims {
                    v.refresh(c.id, Trigger::Heartbeat).await
                } else {
                    v.heartbeat_refresh(c, claims).await
                };
                // A refusal may be one too many: the breaker judges the hour before the next one.
                if matches!(
                    r,
                    Ok(Err(
                        VaultError::NeedsReauth { .. } | VaultError::Unavailable { .. }
                    ))
                ) && judge(v).await
                {
                    tripped.store(true, Ordering::Relaxed);
                }
                Some(r)
            })
            .buffer_unordered(hb.concurrency.max(1))
            .collect::<Vec<_>>()
            .await
    };
    let ((), results) = tokio::join!(
        super::sweep_claim::claimer(v.leases().clone(), to_claim),
        refreshes
    );
    for r in results {
        let Some(r) = r else {
            report.paused += 1;
            continue;
        };
        match r {
            Ok(Ok(_)) => report.refreshed += 1,
            Ok(Err(VaultError::NeedsReauth { .. })) => report.needs_reauth += 1,
            Ok(Err(VaultError::Busy { .. })) => report.skipped += 1,
            Ok(Err(_)) => report.failed += 1,
            Err(e) => {
                tracing::error!(error = %e, "heartbeat refresh failed");
                report.errors += 1;
            }
        }
    }
    // The page's last refusals may have been recorded after the last judgement.
    tripped.load(Ordering::Relaxed) || (report.needs_reauth + report.failed > 0 && judge(v).await)
}

/// Whether the breaker trips (or has tripped); an error judging it is logged, not a stop.
async fn judge(v: &Vault) -> bool {
    breaker::check(v.db(), &v.config().incident, v.now())
        .await
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "the breaker could not judge the hour");
            false
        })
}
