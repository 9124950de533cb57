//! Retries verifications that failed (a connection left `verifying`), on their schedule.

use apalis::prelude::*;
use apalis_cron::Tick;

use crate::JobContext;

/// Verifications tried per run at most (the next run takes the rest).
const BATCH: u64 = 200;

#[tracing::instrument(name = "job", skip_all, fields(job = "verify"))]
pub(crate) async fn run(_tick: Tick, ctx: Data<JobContext>) -> Result<(), BoxDynError> {
    let Some(_running) = ctx.exclusive("verify") else {
        return Ok(());
    };
    let Some(vault) = &ctx.vault else {
        return Ok(());
    };
    let flow = domain::reconsent::Flow {
        db: &ctx.db,
        vault,
        config: &ctx.config,
    };
    let r = domain::reconsent::verify_due(&flow, ctx.clock.now(), BATCH).await?;
    if r.verified + r.failed > 0 {
        tracing::info!(
            verified = r.verified,
            failed = r.failed,
            "verifications retried"
        );
    }
    Ok(())
}
