//! The campaign scheduler: creates due wave notices every `campaign.tick`, after the legacy
//! pre-flight has held back orgs that cannot consent yet (with `legacy.package_id` set), and the
//! `ip_change` notices of upcoming egress ranges (once per org and change).

use apalis::prelude::*;
use apalis_cron::Tick;

use crate::JobContext;

#[tracing::instrument(name = "job", skip_all, fields(job = "campaign"))]
pub(crate) async fn run(_tick: Tick, ctx: Data<JobContext>) -> Result<(), BoxDynError> {
    let Some(_running) = ctx.exclusive("campaign") else {
        return Ok(());
    };
    let quiet = domain::time::QuietHours::parse(&ctx.config.campaign.quiet_hours);
    if let Some(vault) = &ctx.vault {
        let p = domain::legacy::preflight::run(vault, ctx.clock.now()).await?;
        if p != Default::default() {
            tracing::info!(
                ready = p.ready,
                blocked = p.blocked,
                unknown = p.unknown,
                "legacy pre-flight"
            );
        }
    }
    let r = domain::campaign::schedule(&ctx.db, ctx.clock.now(), quiet).await?;
    if r.created + r.skipped > 0 {
        tracing::info!(
            created = r.created,
            skipped = r.skipped,
            "campaign notices scheduled"
        );
    }
    let ip = domain::ip_ranges::queue_notices(&ctx.db, &ctx.config, ctx.clock.now()).await?;
    if ip > 0 {
        tracing::info!(queued = ip, "ip_change notices queued");
    }
    Ok(())
}
