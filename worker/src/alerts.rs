//! Delivers alerts: queues each alert's notification round and sends due deliveries (mail and
//! webhook), retrying the ones whose receiver is down.

use apalis::prelude::*;
use apalis_cron::Tick;

use crate::JobContext;

#[tracing::instrument(name = "job", skip_all, fields(job = "alerts"))]
pub(crate) async fn run(_tick: Tick, ctx: Data<JobContext>) -> Result<(), BoxDynError> {
    let Some(_running) = ctx.exclusive("alerts") else {
        return Ok(());
    };
    let d = domain::alerts::delivery::Dispatcher {
        config: &ctx.config,
        mailer: &ctx.mailer,
        http: &ctx.webhooks,
        owner: &ctx.owner,
    };
    let r = domain::alerts::delivery::run(&ctx.db, &d, ctx.clock.now(), 200).await?;
    if r.sent + r.retried + r.failed > 0 {
        tracing::info!(
            rounds = r.rounds,
            sent = r.sent,
            retried = r.retried,
            failed = r.failed,
            "alert deliveries"
        );
    }
    Ok(())
}
