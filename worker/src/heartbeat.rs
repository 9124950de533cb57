//! The heartbeat sweep: every connection refreshed before Salesforce's idle timeout (none while
//! the breaker is tripped: `domain::vault::heartbeat::sweep` reads it first).

use apalis::prelude::*;
use apalis_cron::Tick;

use crate::JobContext;

/// Connections refreshed per sweep at most (the next sweep takes the rest).
const BATCH: u64 = 10_000;

#[tracing::instrument(name = "job", skip_all, fields(job = "heartbeat"))]
pub(crate) async fn run(_tick: Tick, ctx: Data<JobContext>) -> Result<(), BoxDynError> {
    let Some(_running) = ctx.exclusive("heartbeat") else {
        return Ok(());
    };
    let Some(vault) = &ctx.vault else {
        tracing::debug!("heartbeat waits: salesforce.client_id and crypto.keys are not configured");
        return Ok(());
    };
    let r = domain::vault::heartbeat::sweep(vault, BATCH).await?;
    if r.paused > 0 {
        tracing::warn!(
            paused = r.paused,
            "heartbeat sweep stopped: the breaker tripped"
        );
    }
    if r.due > 0 {
        tracing::info!(
            due = r.due,
            refreshed = r.refreshed,
            needs_reauth = r.needs_reauth,
            failed = r.failed,
            errors = r.errors,
            "heartbeat sweep"
        );
    }
    Ok(())
}

/// A cron expression (with seconds) that fires every `d`, rounded to what cron can say.
pub(crate) fn schedule_for(d: std::time::Duration) -> String {
    let secs = d.as_secs().max(1);
    if secs < 60 {
        format!("*/{secs} * * * * *")
    } else if secs < 3600 {
        format!("0 */{} * * * *", secs / 60)
    } else {
        format!("0 0 */{} * * *", (secs / 3600).min(23))
    }
}

#[cfg(test)]
mod tests {
    use super::schedule_for;
    use std::time::Duration;

    #[test]
    fn sweep_intervals_become_cron_expressions() {
        assert_eq!(schedule_for(Duration::from_secs(5)), "*/5 * * * * *");
        assert_eq!(schedule_for(Duration::from_secs(600)), "0 */10 * * * *");
        assert_eq!(schedule_for(Duration::from_secs(7200)), "0 0 */2 * * *");
        for d in [1, 5, 59, 60, 600, 3600, 86_400] {
            assert!(
                schedule_for(Duration::from_secs(d))
                    .parse::<cron::Schedule>()
                    .is_ok()
            );
        }
    }
}
