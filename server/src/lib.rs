//! reauth's web layer: axum routers for health, customer pages, the staff dashboard and the
//! token API. Handlers parse input, call one domain function, and render; rules live in `domain`.
//!
//! | module | owns |
//! |---|---|
//! | `reconsent`, `pages` | the customer admin's pages (`/r/…`, the OAuth callback) and their rendering |
//! | `staff` | the staff dashboard: sign-in, overview, orgs, waves, jobs, events, security, legacy, admin |
//! | `api`, `api_key_cache`, `legacy` | the token API (`/api/v1/…`), its key cache, the legacy import API |
//! | `ip_ranges` | the published egress ranges (`/ip-ranges`, `/ip-ranges.json`) |
//! | `health`, `metrics` | `/healthz`, `/readyz` and `/metrics` |
//! | `frame` | what every request passes through: request id, span, error pages, security headers |
//! | `error` | the one error type, rendered as a page or JSON by route kind and logged once |
//! | `security` | security headers, CSRF tokens, the only ways to redirect |
//! | `session_store` | tower-sessions over our own database |
//! | `static_files` | the embedded CSS and images |

mod api;
mod api_key_cache;
mod error;
mod frame;
mod health;
mod ip_ranges;
mod legacy;
mod metrics;
mod pages;
mod reconsent;
mod security;
mod session_store;
mod staff;
mod static_files;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use domain::config::Config;
use domain::security::crypto::Sealer;
use domain::time::Clock;
use http::StatusCode;
use sea_orm::DatabaseConnection;
use tower_http::timeout::TimeoutLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

pub use session_store::DbStore;
pub use staff::STATE_CHANGING_ROUTES;

/// Everything a handler may use, built once at start-up. Cloned by every extractor and
/// middleware of every request, so it is one reference count: the fields live in
/// [`Services`], reached through `Deref`.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The services behind [`AppState`].
pub struct Services {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub clock: Clock,
    /// Seals secrets at rest; `None` until `crypto.keys` is configured. Handlers ask
    /// `AppState::sealer`, which turns `None` into the one "not configured" error.
    pub sealer: Option<Sealer>,
    /// The token vault (and so the Salesforce client); `None` until `salesforce.client_id` and
    /// `crypto.keys` are configured. Handlers ask `AppState::vault`.
    pub vault: Option<domain::vault::Vault>,
    /// Recently verified API keys (by hash), so the token API's hot path skips the database.
    api_keys: api_key_cache::ApiKeyCache,
    /// The overview's figures, shared by every staff user for a few seconds.
    pub(crate) overview: domain::staff::overview_cache::OverviewCache,
    /// Staff sign-in attempts per client address.
    sign_in_limiter: Arc<staff::RateLimiter>,
    /// Added to every response by [`frame`], built once.
    security_headers: security::SecurityHeaders,
}

impl AppState {
    /// Builds the state from configuration. Missing Salesforce or crypto settings are not an
    /// error here (health, readiness and the registry work without them); the flows that need
    /// them say which key is missing.
    pub fn new(
        db: DatabaseConnection,
        config: Arc<Config>,
        clock: Clock,
        process: &domain::process::ProcessId,
    ) -> Result<Self, domain::Error> {
        let vault = domain::vault::Vault::from_config(
            db.clone(),
            config.clone(),
            clock.clone(),
            process.as_str(),
        )?;
        Self::with_vault(db, config, clock, vault)
    }

    /// As `new`, sharing an existing vault (one per process: one cache, one set of locks).
    pub fn with_vault(
        db: DatabaseConnection,
        config: Arc<Config>,
        clock: Clock,
        vault: Option<domain::vault::Vault>,
    ) -> Result<Self, domain::Error> {
        let sealer = if config.crypto.keys.is_empty() {
            None
        } else {
            Some(Sealer::from_config(&config.crypto)?)
        };
        let security_headers = security::SecurityHeaders::new(
            &config.salesforce.extra_login_hosts,
            config.base_url.scheme() == "https",
        )
        .map_err(|e| domain::Error::Internal(format!("salesforce.extra_login_hosts: {e}")))?;
        metrics::handle();
        Ok(Self(Arc::new(Services {
            db,
            config,
            clock,
            sealer,
            vault,
            security_headers,
            api_keys: api_key_cache::ApiKeyCache::default(),
            sign_in_limiter: Arc::new(staff::rate_limiter()),
            overview: Default::default(),
        })))
    }
}

impl Services {
    /// The token vault, or the error that says what configuration it needs (logged once).
    pub(crate) fn vault(&self) -> Result<&domain::vault::Vault, error::AppError> {
        self.vault.as_ref().ok_or_else(|| {
            not_configured("salesforce.client_id and crypto.keys must both be configured for this")
        })
    }

    /// The sealer, or the error that says it needs `crypto.keys` (logged once).
    pub(crate) fn sealer(&self) -> Result<&Sealer, error::AppError> {
        self.sealer
            .as_ref()
            .ok_or_else(|| not_configured("crypto.keys must be configured for this"))
    }
}

fn not_configured(what: &'static str) -> error::AppError {
    error::AppError::new(StatusCode::SERVICE_UNAVAILABLE, "not_configured", what).logged(what)
}

/// The whole application: the router inside the frame every request passes through
/// ([`frame`]: request id, span, error pages, security headers), inside the 30 s time-out.
type App = tower_http::timeout::Timeout<frame::Frame<Router>>;

/// Builds [`App`]. The cross-cutting layers wrap the router once; only the session layer (the
/// customer pages and the dashboard) and [`frame::RecordRouteLayer`] (which must run after
/// routing) are applied per route.
fn app(state: AppState) -> App {
    let sessions = SessionManagerLayer::new(DbStore::new(state.db.clone()))
        .with_name("reauth_session")
        .with_http_only(true)
        // Lax, not Strict: the session must survive the redirect back from Salesforce.
        .with_same_site(SameSite::Lax)
        .with_secure(state.config.base_url.scheme() == "https")
        .with_expiry(Expiry::OnInactivity(time::Duration::hours(2)));
    let router = Router::new()
        .merge(reconsent::router())
        .merge(staff::router(&state))
        .layer(sessions)
        .merge(health::router())
        .merge(ip_ranges::router())
        .merge(api::router())
        .merge(metrics::router())
        .merge(static_files::router())
        .fallback(error::not_found)
        // The span names the matched route, never the URI. Failures are logged by
        // `error::render`, once, with their cause; not again by the span.
        .layer(frame::RecordRouteLayer)
        .with_state(state.clone());
    tower::ServiceBuilder::new()
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .service(frame::Frame::new(router, state))
}

/// Serves the router on `listener` until `shutdown` resolves, then waits for the vault's
/// exchanges in flight (and their writes): a rotation cut half-way would be lost.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let vault = state.vault.clone();
    // The sign-in limiter keeps a cell per client address; addresses that have been quiet for a
    // minute are dropped, so the map does not grow with every address ever seen.
    let limiter = state.sign_in_limiter.clone();
    let pruning = tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        loop {
            every.tick().await;
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    });
    let served = axum::serve(listener, frame::MakeApp(app(state)))
        .with_graceful_shutdown(shutdown)
        .await;
    pruning.abort();
    if let Some(v) = vault {
        v.drain(v.drain_timeout()).await;
    }
    served
}
