//! sfsim: a Salesforce OAuth 2.0 and REST simulator for reauth's tests, benchmarks and demo.
//!
//! It follows `salesforce-facts.md`: single-use authorization codes with PKCE (S256, base64url
//! verifiers only), refresh token rotation where re-using a rotated token revokes the whole grant,
//! `token request is already being processed` for a concurrent refresh, idle and lifetime expiry
//! against a clock tests can move, a refresh-token IP allowlist, frozen users, blocked or
//! uninstalled apps, and the exact status codes and error strings of the facts' error table.
//! Faults (latency, 5xx, hangs, "rotate then drop the answer") are set in config or at run time
//! through `/_sim/`. It shares no code with reauth on purpose: an independent implementation
//! catches bugs a shared helper would hide on both sides.

pub mod config;
mod ids;
mod pages;
mod rest;
mod server;
mod state;
mod token;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use config::{
    AppInstall, ClientConfig, Config, Faults, OrgConfig, RefreshPolicy, Settings, UserConfig,
};
pub use state::Stats;

use state::Shared;

/// A running simulator.
pub struct Sim {
    base_url: String,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Sim {
    /// Starts serving `config` on `addr` (use port 0 for an ephemeral port).
    pub async fn start(config: Config, addr: SocketAddr) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let base_url = format!("http://{local}");
        let shared = Arc::new(Shared::new(config, base_url.clone()));
        let app = server::router(shared.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "sfsim stopped");
            }
        });
        Ok(Self {
            base_url,
            shared,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`: login host, instance host and identity host.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `127.0.0.1:PORT`, as reauth's `salesforce.extra_login_hosts` wants it.
    pub fn host_port(&self) -> &str {
        self.base_url.trim_start_matches("http://")
    }

    /// Counters, as `/_sim/stats` serves them.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// The effective configuration (dataset, settings and current faults).
    pub fn config(&self) -> Config {
        self.shared.config()
    }

    /// Moves the simulator's clock forward (codes, sessions and refresh tokens age).
    pub fn advance_clock(&self, by: Duration) {
        self.shared.advance_clock(by);
    }

    /// Replaces the fault settings.
    pub fn set_faults(&self, faults: Faults) {
        self.shared.set_faults(faults);
    }

    /// Revokes every grant of a user (as an admin would in Setup); returns how many.
    pub fn revoke_user_grants(&self, username: &str) -> usize {
        self.shared.revoke_user_grants(username)
    }

    /// Freezes or unfreezes a user.
    pub fn set_frozen(&self, username: &str, frozen: bool) -> bool {
        self.shared.set_frozen(username, frozen)
    }

    /// Installs, blocks or uninstalls a client's app in an org.
    pub fn set_app_state(&self, org_id: &str, client_id: &str, state: AppInstall) {
        self.shared.set_app_state(org_id, client_id, state);
    }

    /// Locks (or unlocks) an org: every token request is refused with `inactive_org`.
    pub fn set_org_locked(&self, org_id: &str, locked: bool) -> bool {
        self.shared.set_org_locked(org_id, locked)
    }

    /// Adds an allowed callback to every client.
    pub fn add_redirect_uri(&self, uri: &str) {
        self.shared.add_redirect_uri(uri);
    }

    /// Stops serving.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}
