//! The token-use monitor: reads LoginHistory with the connections' fresh access tokens only.

use apalis::prelude::*;
use apalis_cron::Tick;

use crate::JobContext;

#[tracing::instrument(name = "job", skip_all, fields(job = "monitor"))]
pub(crate) async fn run(_tick: Tick, ctx: Data<JobContext>) -> Result<(), BoxDynError> {
    let Some(_running) = ctx.exclusive("monitor") else {
        return Ok(());
    };
    if !ctx.config.monitor.enabled {
        return Ok(());
    }
    let Some(vault) = &ctx.vault else {
        tracing::debug!("monitor waits: salesforce.client_id and crypto.keys are not configured");
        return Ok(());
    };
    domain::monitor::sweep(vault).await?;
    Ok(())
}
