//! Periodic upkeep: expired web sessions, and the overdue-rotation alert for client secrets.

use apalis::prelude::*;
use apalis_cron::Tick;

use crate::JobContext;

#[tracing::instrument(name = "job", skip_all, fields(job = "housekeeping"))]
pub(crate) async fn run(_tick: Tick, ctx: Data<JobContext>) -> Result<(), BoxDynError> {
    let Some(_running) = ctx.exclusive("housekeeping") else {
        return Ok(());
    };
    let removed = domain::staff::sessions::delete_expired(&ctx.db, ctx.clock.now()).await?;
    if removed > 0 {
        tracing::info!(removed, "deleted expired sessions");
    }
    domain::security::secrets::alert_overdue(&ctx.db, &ctx.config, ctx.clock.now()).await?;
    Ok(())
}
