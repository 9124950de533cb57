//! The campaign scheduler: creates due wave notices every `campaign.tick`.

use apalis::prelude::*;
use apalis_cron::Tick;

use crate::JobContext;

#[tracing::instrument(name = "job", skip_all, fields(job = "campaign"))]
pub(crate) async fn run(_tick: Tick, ctx: Data<JobContext>) -> Result<(), BoxDynError> {
    let quiet = domain::time::QuietHours::parse(&ctx.config.campaign.quiet_hours);
    let r = domain::campaign::schedule(&ctx.db, ctx.clock.now(), quiet).await?;
    if r.created + r.skipped > 0 {
        tracing::info!(
            created = r.created,
            skipped = r.skipped,
            "campaign notices scheduled"
        );
    }
    Ok(())
}
