//! Sends due notices of every kind, and alerts on notices nobody has sent.

use apalis::prelude::*;
use apalis_cron::Tick;

use crate::JobContext;

#[tracing::instrument(name = "job", skip_all, fields(job = "notices"))]
pub(crate) async fn run(_tick: Tick, ctx: Data<JobContext>) -> Result<(), BoxDynError> {
    let Some(_running) = ctx.exclusive("notices") else {
        return Ok(());
    };
    // Mail the pages promised that has not left (whatever the reason, including this process
    // having no key to seal links with): an alert per notice, once.
    let stuck = domain::campaign::notices::alert_stuck(&ctx.db, ctx.clock.now()).await?;
    if stuck > 0 {
        tracing::warn!(stuck, "notices are stuck");
    }
    let Some(sealer) = &ctx.sealer else {
        tracing::debug!("notices wait: crypto.keys is not configured, so links cannot be sealed");
        return Ok(());
    };
    let sender = domain::campaign::notices::Sender {
        mailer: &ctx.mailer,
        sealer,
        config: &ctx.config,
        owner: &ctx.owner,
    };
    let report =
        domain::campaign::notices::send_due(&ctx.db, &sender, ctx.clock.now(), 100).await?;
    if report.held {
        tracing::debug!("notices held: the breaker is tripped");
    } else if report.sent + report.retried + report.failed > 0 {
        tracing::info!(
            sent = report.sent,
            retried = report.retried,
            failed = report.failed,
            "notices"
        );
    }
    Ok(())
}
