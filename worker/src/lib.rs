//! reauth's background jobs, run by an apalis monitor. Each job is a few lines that call one
//! domain function; jobs carry ids, never secrets, and are idempotent.
//!
//! | job | what it does |
//! |---|---|
//! | `heartbeat` | refreshes every connection before Salesforce's idle timeout |
//! | `verify` | retries failed identity checks of new connections |
//! | `campaign` | creates each wave's due notices (after the legacy pre-flight) |
//! | `notices` | sends due notices, alerts on stuck ones |
//! | `bulk` | runs staff bulk jobs no server is running |
//! | `legacy` | retires the legacy Connected App's connections and retries revocations |
//! | `monitor` | the token-use monitor over LoginHistory |
//! | `alerts` | delivers alerts by mail and webhook |
//! | `housekeeping` | expired sessions, overdue secret rotation |
//! | `incident` | an open incident's `--revoke` pass and its emergency wave's enrolment |

mod alerts;
mod bulk;
mod campaign;
mod heartbeat;
mod housekeeping;
mod incident;
mod legacy;
mod monitor;
mod notices;
mod verify;

use std::str::FromStr;
use std::sync::Arc;

use apalis::prelude::*;
use apalis_cron::CronScheduler;
use domain::config::Config;
use domain::process::ProcessId;
use domain::time::Clock;
use sea_orm::DatabaseConnection;

/// What jobs may use.
#[derive(Clone)]
pub struct JobContext {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub clock: Clock,
    pub mailer: domain::mail::Mailer,
    /// `None` until `crypto.keys` is configured (jobs that seal secrets then wait).
    pub sealer: Option<domain::security::crypto::Sealer>,
    /// This process's name in leases and job workers.
    pub process: ProcessId,
    /// This process's name in leases.
    pub owner: String,
    /// The token vault; `None` until `salesforce.client_id` and `crypto.keys` are configured.
    pub vault: Option<domain::vault::Vault>,
    /// The HTTP client alert webhooks are posted with.
    pub webhooks: reqwest::Client,
    /// The jobs running in this process now ([`Self::exclusive`]).
    running: Arc<std::sync::Mutex<std::collections::HashSet<&'static str>>>,
}

/// A job's run in this process; the next tick may run the job again once this is dropped.
pub(crate) struct Running {
    job: &'static str,
    running: Arc<std::sync::Mutex<std::collections::HashSet<&'static str>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(self.job);
    }
}

impl JobContext {
    /// Builds the context from configuration, sharing `vault` when the process already has one.
    pub fn new(
        db: DatabaseConnection,
        config: Arc<Config>,
        clock: Clock,
        process: ProcessId,
        vault: Option<domain::vault::Vault>,
    ) -> Result<Self, domain::Error> {
        let mailer = domain::mail::Mailer::from_config(&config.mail)?;
        let owner = process.as_str().to_owned();
        let vault = match vault {
            Some(v) => Some(v),
            None => domain::vault::Vault::from_config(
                db.clone(),
                config.clone(),
                clock.clone(),
                &owner,
            )?,
        };
        let sealer = if config.crypto.keys.is_empty() {
            None
        } else {
            Some(domain::security::crypto::Sealer::from_config(
                &config.crypto,
            )?)
        };
        let webhooks = domain::alerts::delivery::webhook_client()
            .map_err(|e| domain::Error::Invalid(format!("the webhook HTTP client: {e}")))?;
        Ok(Self {
            webhooks,
            db,
            config,
            clock,
            mailer,
            sealer,
            process,
            owner,
            vault,
            running: Arc::default(),
        })
    }

    /// Marks `job` as running in this process, or `None` if its previous run is still going:
    /// apalis starts each cron tick's job at once, even beside the last one, so every job takes
    /// this first and skips a tick that finds it busy. A heartbeat sweep that outlasts
    /// `heartbeat.sweep_every` is then never joined by a second sweep, and `heartbeat.concurrency`
    /// and `per_instance` bound the whole process (test `worker_schedule`). (A tower
    /// concurrency limit on the worker would instead leave ticks unpolled until apalis-cron
    /// refuses them as out of range and ends the job's worker.)
    pub(crate) fn exclusive(&self, job: &'static str) -> Option<Running> {
        let mut running = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !running.insert(job) {
            tracing::debug!(job, "the previous run is still going; this tick is skipped");
            return None;
        }
        Some(Running {
            job,
            running: self.running.clone(),
        })
    }
}

/// Runs every job until `shutdown` resolves, then waits for the vault's exchanges in flight (and
/// their writes) to finish: a rotation cut half-way would be lost.
pub async fn run(
    ctx: JobContext,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), BoxDynError> {
    let vault = ctx.vault.clone();
    let result = run_jobs(ctx, shutdown).await;
    if let Some(v) = vault {
        v.drain(v.drain_timeout()).await;
    }
    result
}

async fn run_jobs(
    ctx: JobContext,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), BoxDynError> {
    // A worker name unique among live workers (apalis refuses duplicates).
    let worker_name = |job: &str| ctx.process.worker_name(job);
    // cron 0.17 has a leading seconds field.
    let every_minute = cron::Schedule::from_str("0 * * * * *")?;
    // Notices go out every 10 seconds, or every campaign tick when that is shorter.
    let send_every = ctx
        .config
        .campaign
        .tick
        .min(std::time::Duration::from_secs(10));
    let every_10s = cron::Schedule::from_str(&heartbeat::schedule_for(send_every))?;
    let sweep =
        cron::Schedule::from_str(&heartbeat::schedule_for(ctx.config.heartbeat.sweep_every))?;
    let (housekeeping_name, notices_name, heartbeat_name) = (
        worker_name("housekeeping"),
        worker_name("notices"),
        worker_name("heartbeat"),
    );
    let notices_ctx = ctx.clone();
    let tick = cron::Schedule::from_str(&heartbeat::schedule_for(ctx.config.campaign.tick))?;
    let campaign_name = worker_name("campaign");
    let campaign_ctx = ctx.clone();
    let heartbeat_ctx = ctx.clone();
    let bulk_name = worker_name("bulk");
    let bulk_ctx = ctx.clone();
    let bulk_every =
        cron::Schedule::from_str(&heartbeat::schedule_for(std::time::Duration::from_secs(5)))?;
    let verify_name = worker_name("verify");
    let verify_ctx = ctx.clone();
    let verify_every =
        cron::Schedule::from_str(&heartbeat::schedule_for(std::time::Duration::from_secs(30)))?;
    let monitor_name = worker_name("monitor");
    let monitor_ctx = ctx.clone();
    let monitor_every =
        cron::Schedule::from_str(&heartbeat::schedule_for(ctx.config.monitor.every))?;
    let alerts_name = worker_name("alerts");
    let alerts_ctx = ctx.clone();
    let alerts_every = every_10s.clone();
    let legacy_name = worker_name("legacy");
    let legacy_ctx = ctx.clone();
    let legacy_every =
        cron::Schedule::from_str(&heartbeat::schedule_for(ctx.config.legacy.check_every))?;
    let incident_name = worker_name("incident");
    let incident_ctx = ctx.clone();
    let incident_every = bulk_every.clone();
    // Every job runs one at a time in a process: each takes `JobContext::exclusive` first.
    let monitor = Monitor::new()
        .register(move |_restarts| {
            WorkerBuilder::new(housekeeping_name.as_str())
                .backend(CronScheduler::new(every_minute.clone()))
                .data(ctx.clone())
                .build(housekeeping::run)
        })
        .register(move |_restarts| {
            WorkerBuilder::new(notices_name.as_str())
                .backend(CronScheduler::new(every_10s.clone()))
                .data(notices_ctx.clone())
                .build(notices::run)
        })
        .register(move |_restarts| {
            WorkerBuilder::new(heartbeat_name.as_str())
                .backend(CronScheduler::new(sweep.clone()))
                .data(heartbeat_ctx.clone())
                .build(heartbeat::run)
        })
        .register(move |_restarts| {
            WorkerBuilder::new(campaign_name.as_str())
                .backend(CronScheduler::new(tick.clone()))
                .data(campaign_ctx.clone())
                .build(campaign::run)
        })
        .register(move |_restarts| {
            WorkerBuilder::new(bulk_name.as_str())
                .backend(CronScheduler::new(bulk_every.clone()))
                .data(bulk_ctx.clone())
                .build(bulk::run)
        })
        .register(move |_restarts| {
            WorkerBuilder::new(verify_name.as_str())
                .backend(CronScheduler::new(verify_every.clone()))
                .data(verify_ctx.clone())
                .build(verify::run)
        })
        .register(move |_restarts| {
            WorkerBuilder::new(alerts_name.as_str())
                .backend(CronScheduler::new(alerts_every.clone()))
                .data(alerts_ctx.clone())
                .build(alerts::run)
        })
        .register(move |_restarts| {
            WorkerBuilder::new(monitor_name.as_str())
                .backend(CronScheduler::new(monitor_every.clone()))
                .data(monitor_ctx.clone())
                .build(monitor::run)
        })
        .register(move |_restarts| {
            WorkerBuilder::new(incident_name.as_str())
                .backend(CronScheduler::new(incident_every.clone()))
                .data(incident_ctx.clone())
                .build(incident::run)
        })
        .register(move |_restarts| {
            WorkerBuilder::new(legacy_name.as_str())
                .backend(CronScheduler::new(legacy_every.clone()))
                .data(legacy_ctx.clone())
                .build(legacy::run)
        });
    monitor
        .run_with_signal(async move {
            shutdown.await;
            Ok(())
        })
        .await?;
    Ok(())
}
