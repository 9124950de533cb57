//! The incident job (every 5 seconds while an incident is open): the `--revoke` pass (claims
//! and revokes every pending connection, a few at a time per Salesforce instance, resumable
//! after a crash) and the secret-rotation path's enrolment of orgs Salesforce refused into the
//! emergency wave. Nothing to do (two cheap reads) when no incident is open.

use apalis::prelude::*;
use apalis_cron::Tick;
use domain::events::Actor;
use domain::security::incident::{emergency, revoke};

use crate::JobContext;

#[tracing::instrument(name = "job", skip_all, fields(job = "incident"))]
pub(crate) async fn run(_tick: Tick, ctx: Data<JobContext>) -> Result<(), BoxDynError> {
    let Some(_running) = ctx.exclusive("incident") else {
        return Ok(());
    };
    let enrolled = emergency::enroll_refused(&ctx.db, &Actor::System, ctx.clock.now()).await?;
    if enrolled > 0 {
        tracing::info!(
            enrolled,
            "incident: orgs Salesforce refused joined the emergency wave"
        );
    }
    let Some(vault) = &ctx.vault else {
        return Ok(());
    };
    let pass = revoke::run(vault, &Actor::System).await?;
    if pass != revoke::Pass::default() {
        tracing::info!(
            revoked = pass.revoked,
            failed = pass.failed,
            "incident revocation"
        );
    }
    Ok(())
}
