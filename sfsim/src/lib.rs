//! sfsim: a Salesforce OAuth 2.0 and REST simulator for reauth's tests, benchmarks and demo.
//!
//! It follows the Salesforce behaviour described in `docs/salesforce.md`: single-use
//! authorization codes with PKCE (S256, base64url verifiers only), refresh token rotation where
//! re-using a rotated token revokes the whole grant,
//! `token request is already being processed` for a concurrent refresh, idle and lifetime expiry
//! against a clock tests can move, a refresh-token IP allowlist, frozen users, blocked or
//! uninstalled apps, and the exact status codes and error strings of Salesforce's token errors.
//! Faults (latency, 5xx, hangs, "rotate then drop the answer") are set in config or at run time
//! through `/_sim/`. For monitoring and migration tests it also serves RS256 id tokens,
//! `LoginHistory` / `OauthToken` / Tooling `InstalledSubscriberPackage` queries with paging, a
//! thief (`/_sim/steal`), client secret changes, mass revocation, and a record of every grant
//! (`/_sim/grants`: rotations, why it was revoked). It shares no code with reauth on purpose: an
//! independent implementation catches bugs a shared helper would hide on both sides.
//!
//! | module | owns |
//! |---|---|
//! | [`config`] | the simulator's configuration and its dataset (orgs, users, apps) |
//! | `state` | the simulated Salesforce: grants, tokens, clock, faults, LoginHistory |
//! | `server`, `control` | the router, latency and faults, and the `/_sim/` control API |
//! | `pages` | the authorize endpoint's login and consent pages |
//! | `token` | `/services/oauth2/token`: code, password and refresh grants, rotation, reuse detection |
//! | `rest`, `query`, `soql` | identity, userinfo, discovery, limits; the REST and Tooling queries |
//! | `oidc`, `ids` | id tokens and their keys; Salesforce-shaped ids |

pub mod config;
mod control;
mod ids;
mod oidc;
mod pages;
mod query;
mod rest;
mod server;
mod soql;
mod state;
mod token;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use config::{
    AppInstall, ClientConfig, Config, CountryRange, Faults, InstalledPackage, OrgConfig,
    RefreshPolicy, Settings, UserConfig,
};
pub use control::{MassRevoke, MintGrant, MintedGrant, SetSecret, SimError, Steal, StealOutcome};
pub use state::{GrantInfo, GrantOrigin, LoginRow, ReuseInfo, RevokeReason, Stats};

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

    /// Replaces a client's refresh-token IP allowlist (empty: not enforced); `false` for an
    /// unknown client.
    pub fn set_ip_allowlist(&self, client_id: &str, allowlist: Vec<ipnet::IpNet>) -> bool {
        self.shared.set_ip_allowlist(client_id, allowlist)
    }

    /// Adds an allowed callback to every client.
    pub fn add_redirect_uri(&self, uri: &str) {
        self.shared.add_redirect_uri(uri);
    }

    /// Creates a grant without the browser flow, as if the user had approved the client long
    /// ago (what `POST /_sim/grants` does): the partner's existing token table.
    pub fn mint_grant(
        &self,
        client_id: &str,
        username: &str,
        scopes: &[&str],
    ) -> Result<MintedGrant, SimError> {
        let (grant_id, body) =
            control::mint(&self.shared, &MintGrant::new(client_id, username, scopes))?;
        let s = |k: &str| body[k].as_str().map(str::to_owned);
        Ok(MintedGrant {
            grant_id,
            refresh_token: s("refresh_token"),
            access_token: s("access_token").unwrap_or_default(),
            instance_url: s("instance_url").unwrap_or_default(),
            id: s("id").unwrap_or_default(),
        })
    }

    /// Every grant sfsim issued, live and revoked, by id (`GET /_sim/grants`).
    pub fn grants(&self) -> Vec<GrantInfo> {
        self.shared.grants()
    }

    /// One grant by id.
    pub fn grant(&self, id: u64) -> Option<GrantInfo> {
        self.grants().into_iter().find(|g| g.id == id)
    }

    /// Every `LoginHistory` row sfsim keeps, oldest first (all orgs).
    pub fn login_history(&self) -> Vec<LoginRow> {
        self.shared.login_history()
    }

    /// Revokes a share or a number of live grants at random (`POST /_sim/grants/revoke`);
    /// returns how many.
    pub fn mass_revoke(&self, m: &MassRevoke) -> Result<usize, SimError> {
        control::mass_revoke(&self.shared, m)
    }

    /// Revokes this share (0–1) of all live grants; returns how many.
    pub fn revoke_share(&self, share: f64) -> Result<usize, SimError> {
        self.mass_revoke(&MassRevoke {
            share: Some(share),
            ..MassRevoke::default()
        })
    }

    /// Plays a thief holding a grant's current refresh token (`POST /_sim/steal`).
    pub fn steal(&self, s: &Steal) -> Result<StealOutcome, SimError> {
        control::steal(&self.shared, s)
    }

    /// Changes a client's secret; with `keep_old` the current one stays accepted too (a staged
    /// rotation). `false` if there is no such client.
    pub fn set_client_secret(&self, client_id: &str, secret: &str, keep_old: bool) -> bool {
        self.shared.set_client_secret(client_id, secret, keep_old)
    }

    /// Stops accepting a client's previous secret. `false` if there is no such client.
    pub fn drop_previous_client_secret(&self, client_id: &str) -> bool {
        self.shared.drop_previous_secret(client_id)
    }

    /// Replaces an org's installed packages (Tooling `InstalledSubscriberPackage`).
    pub fn set_installed_packages(&self, org_id: &str, packages: Vec<InstalledPackage>) -> bool {
        self.shared.set_installed_packages(org_id, packages)
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
