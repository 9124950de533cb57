//! Sends due notices (today: fresh links customers asked for).

use apalis::prelude::*;
use apalis_cron::Tick;

use crate::JobContext;

pub(crate) async fn run(_tick: Tick, ctx: Data<JobContext>) -> Result<(), BoxDynError> {
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
    if report.sent + report.retried + report.failed > 0 {
        tracing::info!(
            sent = report.sent,
            retried = report.retried,
            failed = report.failed,
            "notices"
        );
    }
    Ok(())
}
