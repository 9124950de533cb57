//! The customer re-consent flow: link → landing page → PKCE authorize → callback → checked,
//! encrypted connection → verification.
//!
//! The org that consents must be the org the link was for: a grant for any other org (a sandbox
//! instead of production, another customer's org) is revoked at Salesforce and nothing is kept.
//! A re-consent over a working connection replaces it only after the new one is verified, and
//! then retires every older live connection of the org through the vault (waiting out a refresh
//! in flight, revoking each with its newest refresh token), so exactly one grant stays live.
//!
//! - [`landing`]: a link's visit and the facts its page shows;
//! - [`links`]: minting, looking up and withdrawing re-auth links;
//! - `callback`: the answer from Salesforce, checked and stored;
//! - `verify`: the identity check that promotes a connection, its retries, and revocation.

mod callback;
pub mod landing;
pub mod links;
mod verify;

pub use callback::{CallbackParams, Finish, StateProblem, complete};
pub use verify::{Retry, retry_verification, revoke_connection, verify_due};

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::entity::connection::ConnectionApp;
use crate::entity::org;
use crate::error::{Error, Result};
use crate::salesforce::{AuthorizeRequest, Pkce, SfClient, authorize_url};
use crate::security::crypto::Sealer;
use crate::types::{Environment, LoginUrl};
use crate::vault::Vault;
use links::Lookup;

/// How long an admin may take between "Continue to Salesforce" and coming back.
pub const MAX_FLOW_AGE: Duration = Duration::from_secs(30 * 60);
/// The app this flow connects (the packaged External Client App).
pub const APP: ConnectionApp = ConnectionApp::Eca;

/// What the server keeps in the (server-side) session between start and callback.
#[derive(Clone, Serialize, Deserialize)]
pub struct Pending {
    pub link_id: i64,
    pub org_id: String,
    pub state: String,
    /// Checked against the ID token's `nonce` when `openid` is granted.
    pub nonce: String,
    verifier: String,
    pub login_url: String,
    pub started_at: DateTime<Utc>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("link_id", &self.link_id)
            .field("org_id", &self.org_id)
            .finish_non_exhaustive()
    }
}

/// The services the flow needs.
pub struct Flow<'a> {
    pub db: &'a DatabaseConnection,
    /// Every write to a connection goes through the vault.
    pub vault: &'a Vault,
    pub config: &'a Config,
}

impl Flow<'_> {
    fn sf(&self) -> &SfClient {
        self.vault.sf()
    }

    fn sealer(&self) -> &Sealer {
        self.vault.sealer()
    }
}

/// The login host for an org: its My Domain when known, else the sandbox or production default.
pub fn login_host(o: &org::Model, config: &Config) -> Result<LoginUrl> {
    let extra = &config.salesforce.extra_login_hosts;
    let chosen = match &o.login_url {
        Some(u) => LoginUrl::parse(u, extra),
        None if o.environment == Environment::Sandbox => config.salesforce.sandbox_login(),
        None => config.salesforce.production_login(),
    };
    chosen.map_err(|e| Error::Internal(format!("login host for org {}: {e}", o.id)))
}

/// The callback URL registered with the External Client App.
pub fn redirect_uri(config: &Config) -> String {
    format!(
        "{}/oauth/callback",
        config.base_url.as_str().trim_end_matches('/')
    )
}

/// Result of "Continue to Salesforce".
pub enum Start {
    /// Send the browser here; keep `Pending` in the session.
    Redirect { url: String, pending: Pending },
    /// The link is not (or no longer) usable.
    Link(Box<Lookup>),
}

/// Starts the flow for a link secret.
pub async fn start(flow: &Flow<'_>, secret: &str, now: DateTime<Utc>) -> Result<Start> {
    let found = links::lookup(flow.db, secret, now).await?;
    begin(flow, found, now)
}

/// Starts again for a link this browser already proved it holds (its id was kept in the session).
pub async fn start_for_link(flow: &Flow<'_>, link_id: i64, now: DateTime<Utc>) -> Result<Start> {
    let found = links::lookup_by_id(flow.db, link_id, now).await?;
    begin(flow, found, now)
}

fn begin(flow: &Flow<'_>, found: Lookup, now: DateTime<Utc>) -> Result<Start> {
    let client_id = flow.config.salesforce.require_client_id()?;
    let (link, o) = match found {
        Lookup::Valid(l, o) => (l, o),
        other => return Ok(Start::Link(Box::new(other))),
    };
    let login = login_host(&o, flow.config)?;
    let pkce = Pkce::generate();
    let state = crate::security::crypto::random_token();
    let nonce = crate::security::crypto::random_token();
    let url = authorize_url(&AuthorizeRequest {
        login: &login,
        client_id,
        redirect_uri: &redirect_uri(flow.config),
        scopes: &flow.config.salesforce.scopes,
        state: &state,
        nonce: &nonce,
        code_challenge: &pkce.challenge,
        login_hint: None,
    });
    let pending = Pending {
        link_id: link.id,
        org_id: o.id.to_string(),
        state,
        nonce,
        verifier: pkce.verifier.expose_secret().to_owned(),
        login_url: login.as_str().to_owned(),
        started_at: now,
    };
    Ok(Start::Redirect { url, pending })
}
