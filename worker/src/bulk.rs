//! Runs staff bulk jobs that no server process is running: queued ones, and ones whose runner
//! died (their lease expired). The server starts each job at once; this is the safety net.

use apalis::prelude::*;
use apalis_cron::Tick;

use crate::JobContext;

#[tracing::instrument(name = "job", skip_all, fields(job = "bulk"))]
pub(crate) async fn run(_tick: Tick, ctx: Data<JobContext>) -> Result<(), BoxDynError> {
    let Some(_running) = ctx.exclusive("bulk") else {
        return Ok(());
    };
    let clock = ctx.clock.clone();
    let ran = domain::staff::bulk::run_pending(&ctx.db, &ctx.owner, || clock.now()).await?;
    if ran > 0 {
        tracing::info!(jobs = ran, "bulk jobs run");
    }
    Ok(())
}
