//! `serve`, `worker` and `migrate`.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use domain::config::Config;
use domain::time::Clock;

use super::init_tracing;

pub async fn migrate(config: Config) -> anyhow::Result<ExitCode> {
    init_tracing("warn");
    let db = domain::db::connect(&config.database_url).await?;
    domain::db::migrate(&db)
        .await
        .context("applying migrations")?;
    eprintln!(
        "migrations applied to {}",
        domain::config::redact_url(&config.database_url)
    );
    Ok(ExitCode::SUCCESS)
}

/// Says loudly when no mail will leave this process.
fn warn_if_mail_is_only_logged(config: &Config) {
    if config.mail.transport == "log" {
        tracing::warn!(
            "mail.transport is \"log\": notices are only written to the log (and marked `logged`); no customer receives mail. Set mail.transport to an smtp:// URL to deliver them."
        );
    }
}

pub async fn serve(config: Config, with_worker: bool) -> anyhow::Result<ExitCode> {
    init_tracing("info");
    if with_worker {
        warn_if_mail_is_only_logged(&config);
    }
    let db = domain::db::open(&config.database_url)
        .await
        .context("opening the database")?;
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    run_app(
        db,
        Arc::new(config),
        listener,
        with_worker,
        shutdown_signal(),
    )
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// Serves the web app (and the jobs, with `with_worker`) until `stop` resolves.
pub async fn run_app(
    db: sea_orm::DatabaseConnection,
    config: Arc<Config>,
    listener: tokio::net::TcpListener,
    with_worker: bool,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let clock = Clock::system();
    let process = domain::process::ProcessId::new("serve");
    tracing::info!(addr = %listener.local_addr()?, base_url = %config.base_url, process = %process, "serving");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let state = server::AppState::new(db.clone(), config.clone(), clock.clone(), &process)
        .context("building the application")?;
    // One vault per process: the token API and the heartbeat share its cache and locks.
    let state_vault = state.vault.clone();
    let worker = if with_worker {
        let ctx = worker::JobContext::new(
            db.clone(),
            config.clone(),
            clock.clone(),
            process.clone(),
            state_vault.clone(),
        )
        .context("building the job context")?;
        let mut rx = stop_rx.clone();
        Some(tokio::spawn(async move {
            worker::run(ctx, async move {
                let _ = rx.changed().await;
            })
            .await
        }))
    } else {
        None
    };
    let mut rx = stop_rx.clone();
    let server = tokio::spawn(server::serve(listener, state, async move {
        let _ = rx.changed().await;
    }));
    stop.await;
    tracing::info!("shutting down");
    stop_tx.send_replace(true);
    server.await.context("server task")??;
    if let Some(w) = worker
        && let Err(e) = w.await.context("worker task")?
    {
        anyhow::bail!("worker stopped with an error: {e}");
    }
    Ok(())
}

pub async fn worker(config: Config) -> anyhow::Result<ExitCode> {
    init_tracing("info");
    warn_if_mail_is_only_logged(&config);
    let db = domain::db::open(&config.database_url)
        .await
        .context("opening the database")?;
    let process = domain::process::ProcessId::new("worker");
    let ctx = worker::JobContext::new(db, Arc::new(config), Clock::system(), process.clone(), None)
        .context("building the job context")?;
    tracing::info!(process = %process, "worker running");
    worker::run(ctx, shutdown_signal())
        .await
        .map_err(|e| anyhow::anyhow!("worker stopped with an error: {e}"))?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}
