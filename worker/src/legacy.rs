//! The legacy Connected App's retirement (every `legacy.check_every`): takes out of service the
//! legacy connections of orgs whose External Client App connection has proven itself for
//! `legacy.retire_after`, and revokes their grants once every process has dropped their tokens.

use apalis::prelude::*;
use apalis_cron::Tick;
use domain::events::Actor;

use crate::JobContext;

#[tracing::instrument(name = "job", skip_all, fields(job = "legacy"))]
pub(crate) async fn run(_tick: Tick, ctx: Data<JobContext>) -> Result<(), BoxDynError> {
    let Some(_running) = ctx.exclusive("legacy") else {
        return Ok(());
    };
    let Some(vault) = &ctx.vault else {
        return Ok(());
    };
    let pass = domain::legacy::retire::run(vault, &Actor::System).await?;
    if pass != Default::default() {
        tracing::info!(
            started = pass.started,
            revoked = pass.revoked,
            failed = pass.failed,
            "legacy retirement"
        );
    }
    Ok(())
}
