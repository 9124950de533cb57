//! The customer re-consent flow: link → landing page → PKCE authorize → callback → checked,
//! encrypted connection → verification.
//!
//! The org that consents must be the org the link was for: a grant for any other org (a sandbox
//! instead of production, another customer's org) is revoked at Salesforce and nothing is kept.
//! A re-consent over a working connection replaces it only after the new one is verified, and
//! then revokes the old refresh token.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, EntityTrait};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::config::Config;
use crate::connections;
use crate::crypto::Sealer;
use crate::entity::org;
use crate::error::{Error, Result};
use crate::events::{self, Actor};
use crate::links::{self, Lookup};
use crate::salesforce::{AuthorizeRequest, Pkce, SfClient, SfError, authorize_url};
use crate::state::{self, Change, OrgState};
use crate::types::{Environment, LoginUrl, OrgId};

/// How long an admin may take between "Continue to Salesforce" and coming back.
pub const MAX_FLOW_AGE: Duration = Duration::from_secs(30 * 60);
/// The app this flow connects (the packaged External Client App).
pub const APP: &str = "eca";

/// What the server keeps in the (server-side) session between start and callback.
#[derive(Clone, Serialize, Deserialize)]
pub struct Pending {
    pub link_id: i64,
    pub org_id: String,
    pub state: String,
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
    pub sf: &'a SfClient,
    pub sealer: &'a Sealer,
    pub config: &'a Config,
}

/// The login host for an org: its My Domain when known, else the sandbox or production default.
pub fn login_host(o: &org::Model, config: &Config) -> Result<LoginUrl> {
    let extra = &config.salesforce.extra_login_hosts;
    let chosen = match &o.login_url {
        Some(u) => LoginUrl::parse(u, extra),
        None if o.environment == Environment::Sandbox.as_str() => config.salesforce.sandbox_login(),
        None => config.salesforce.production_login(),
    };
    chosen.map_err(|e| Error::Invalid(format!("login host for org {}: {e}", o.id)))
}

/// The callback URL registered with the External Client App.
pub fn redirect_uri(config: &Config) -> String {
    format!(
        "{}/oauth/callback",
        config.base_url.as_str().trim_end_matches('/')
    )
}

fn random_token() -> String {
    use base64::Engine as _;
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
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
    let state = random_token();
    let nonce = random_token();
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
        org_id: o.id.clone(),
        state,
        nonce,
        verifier: pkce.verifier.expose_secret().to_owned(),
        login_url: login.as_str().to_owned(),
        started_at: now,
    };
    Ok(Start::Redirect { url, pending })
}

/// What the callback's query said.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// How the callback ended, for the page that explains it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    /// Stored and verified (`verified`), or stored but verification failed (`reason`).
    Connected {
        org_id: OrgId,
        org_name: String,
        verified: bool,
        reason: Option<String>,
        replaced: bool,
    },
    /// The admin signed into another org; its grant was revoked.
    WrongOrg {
        expected: OrgId,
        org_name: String,
        used: OrgId,
        environment: String,
    },
    /// Salesforce answered with an error (the admin denied, the app is blocked, …).
    Refused {
        error: String,
        description: Option<String>,
    },
    /// Salesforce issued no refresh token (the app's policy or scopes).
    NoRefreshToken { org_id: OrgId },
    /// No flow was in progress in this browser, the state did not match, or it was too old.
    BadState(&'static str),
    /// The link was used, revoked or expired while the admin was at Salesforce.
    LinkGone,
    /// Salesforce could not be reached or answered nonsense.
    Unavailable(String),
}

/// Completes the flow. `pending` is what the session held (already removed from it: one-shot).
pub async fn complete(
    flow: &Flow<'_>,
    pending: Option<Pending>,
    params: CallbackParams,
    now: DateTime<Utc>,
) -> Result<Finish> {
    let Some(p) = pending else {
        return Ok(Finish::BadState(
            "no sign-in is in progress in this browser",
        ));
    };
    let Some(state) = params.state.as_deref() else {
        return Ok(Finish::BadState("the answer carried no state"));
    };
    if !bool::from(state.as_bytes().ct_eq(p.state.as_bytes())) {
        return Ok(Finish::BadState(
            "the answer does not belong to the sign-in started here",
        ));
    }
    if now - p.started_at > chrono::Duration::from_std(MAX_FLOW_AGE).unwrap_or_default() {
        return Ok(Finish::BadState("the sign-in took too long"));
    }
    let expected = OrgId::parse(&p.org_id).map_err(|e| Error::Invalid(e.to_string()))?;
    let customer = Actor::Customer("customer admin".into());
    if let Some(error) = &params.error {
        events::record(
            flow.db,
            now,
            &customer,
            Some(&expected),
            "consent.refused",
            serde_json::json!({ "error": error, "description": params.error_description }),
        )
        .await?;
        return Ok(Finish::Refused {
            error: error.clone(),
            description: params.error_description.clone(),
        });
    }
    let Some(code) = params.code.as_deref() else {
        return Ok(Finish::BadState(
            "the answer carried neither a code nor an error",
        ));
    };
    let login = LoginUrl::parse(&p.login_url, &flow.config.salesforce.extra_login_hosts)
        .map_err(|e| Error::Invalid(e.to_string()))?;
    let verifier = SecretString::from(p.verifier.clone());
    let grant = match flow
        .sf
        .exchange_code(&login, &redirect_uri(flow.config), code, &verifier)
        .await
    {
        Ok(g) => g,
        Err(SfError::OAuth {
            error, description, ..
        }) => {
            events::record(
                flow.db,
                now,
                &Actor::System,
                Some(&expected),
                "consent.exchange_failed",
                serde_json::json!({ "error": error, "description": description }),
            )
            .await?;
            return Ok(Finish::Refused { error, description });
        }
        Err(e) => {
            events::record(
                flow.db,
                now,
                &Actor::System,
                Some(&expected),
                "consent.exchange_failed",
                serde_json::json!({ "error": e.to_string() }),
            )
            .await?;
            return Ok(Finish::Unavailable(e.to_string()));
        }
    };

    let o = crate::entity::org::Entity::find_by_id(expected.as_str())
        .one(flow.db)
        .await?
        .ok_or_else(|| Error::UnknownOrg(expected.clone()))?;
    if grant.id.org_id != expected {
        // Never keep a grant for an org we did not ask for.
        let revoke = grant.refresh_token.as_ref().unwrap_or(&grant.access_token);
        let revoked = flow.sf.revoke(&login, revoke).await.is_ok();
        events::record(
            flow.db,
            now,
            &customer,
            Some(&expected),
            "consent.wrong_org",
            serde_json::json!({ "expected": expected, "used": grant.id.org_id, "revoked": revoked }),
        )
        .await?;
        return Ok(Finish::WrongOrg {
            expected,
            org_name: o.name,
            used: grant.id.org_id,
            environment: o.environment,
        });
    }
    let Some(refresh_token) = grant.refresh_token.clone() else {
        let _revoked = flow.sf.revoke(&login, &grant.access_token).await;
        events::record(
            flow.db,
            now,
            &customer,
            Some(&expected),
            "consent.no_refresh_token",
            serde_json::json!({ "scopes": grant.scopes }),
        )
        .await?;
        return Ok(Finish::NoRefreshToken { org_id: expected });
    };

    // Store, consume the link and move the org on, atomically.
    let previous = connections::find(flow.db, &expected, APP, "active").await?;
    let txn = crate::db::begin_write(flow.db).await?;
    if !links::consume(&txn, p.link_id, now).await? {
        txn.rollback().await?;
        let _revoked = flow.sf.revoke(&login, &refresh_token).await;
        return Ok(Finish::LinkGone);
    }
    let new = connections::NewConnection {
        org_id: &expected,
        app: APP,
        status: "verifying",
        grant: &grant,
        refresh_token: &refresh_token,
        replaces_id: previous.first().map(|c| c.id),
        heartbeat_interval: flow.config.heartbeat.interval,
    };
    let conn = connections::insert(&txn, new, flow.sealer, now).await?;
    events::record(
        &txn,
        now,
        &customer,
        Some(&expected),
        "consent.completed",
        serde_json::json!({ "connection_id": conn.id, "sf_user_id": grant.id.user_id, "scopes": grant.scopes, "replaces": conn.replaces_id }),
    )
    .await?;
    txn.commit().await?;
    state::apply(
        flow.db,
        &expected,
        Change::Advance(OrgState::Consented),
        &customer,
        now,
    )
    .await?;
    // The campaign stops the moment an org consents.
    crate::notices::cancel_campaign(flow.db, expected.as_str(), now).await?;
    let approvals = connections::approvals_by_user(flow.db, &grant.id.user_id, APP).await?;
    if approvals >= 4 {
        events::record(
            flow.db,
            now,
            &Actor::System,
            Some(&expected),
            "consent.many_approvals",
            serde_json::json!({ "sf_user_id": grant.id.user_id, "approvals": approvals, "note": "Salesforce keeps five approvals per user per app; the oldest is revoked beyond that" }),
        )
        .await?;
    }

    // Verify with the new access token before trusting it over any older grant.
    match verify(
        flow,
        &expected,
        &conn,
        &grant.id,
        &grant.access_token,
        &login,
        previous,
        now,
    )
    .await?
    {
        Err(reason) => Ok(Finish::Connected {
            org_id: expected,
            org_name: o.name,
            verified: false,
            reason: Some(reason),
            replaced: false,
        }),
        Ok(replaced) => Ok(Finish::Connected {
            org_id: expected,
            org_name: o.name,
            verified: true,
            reason: None,
            replaced,
        }),
    }
}

/// Verifies a new connection by calling the identity URL with its access token. On success the
/// connection becomes active, the org verified, a confirmation is queued, and the `previous`
/// connections are superseded and revoked at Salesforce (`Ok(replaced any)`). On failure the
/// org needs attention and the reason is returned (`Err(reason)`).
#[allow(clippy::too_many_arguments)]
async fn verify(
    flow: &Flow<'_>,
    expected: &OrgId,
    conn: &crate::entity::connection::Model,
    id_url: &crate::salesforce::IdUrl,
    access_token: &SecretString,
    login: &LoginUrl,
    previous: Vec<crate::entity::connection::Model>,
    now: DateTime<Utc>,
) -> Result<std::result::Result<bool, String>> {
    let verified = flow.sf.identity(id_url, access_token).await;
    let reason = match &verified {
        Ok(id) if OrgId::parse(&id.organization_id).ok().as_ref() == Some(expected) => None,
        Ok(id) => Some(format!(
            "the identity URL reports org {}",
            id.organization_id
        )),
        Err(e) => Some(e.to_string()),
    };
    if let Some(reason) = reason {
        state::apply(
            flow.db,
            expected,
            Change::NeedsAttention {
                reason: format!("verification of the new connection failed: {reason}"),
                owner: "partner".into(),
            },
            &Actor::System,
            now,
        )
        .await?;
        events::record(
            flow.db,
            now,
            &Actor::System,
            Some(expected),
            "connection.verification_failed",
            serde_json::json!({ "connection_id": conn.id, "reason": reason }),
        )
        .await?;
        return Ok(Err(reason));
    }
    let username = verified.ok().and_then(|i| i.username);
    connections::set_status(flow.db, conn.id, "active", username, now).await?;
    // Also moves an org that waited on the partner after a failed verification.
    state::apply(
        flow.db,
        expected,
        Change::Advance(OrgState::Verified),
        &Actor::System,
        now,
    )
    .await?;
    crate::notices::enqueue(
        flow.db,
        expected.as_str(),
        "confirmation",
        format!("{}|confirmation|{}", expected, conn.id),
        now,
    )
    .await?;
    events::record(
        flow.db,
        now,
        &Actor::System,
        Some(expected),
        "connection.verified",
        serde_json::json!({ "connection_id": conn.id }),
    )
    .await?;

    // Only now retire what it replaces, and revoke the old grant at Salesforce.
    let replaced = !previous.is_empty();
    for old in previous {
        connections::set_status(flow.db, old.id, "superseded", None, now).await?;
        let outcome = match connections::refresh_token(&old, flow.sealer)? {
            Some(rt) => match flow.sf.revoke(login, &rt).await {
                Ok(()) => "revoked".to_owned(),
                Err(e) => format!("revoke failed: {e}"),
            },
            None => "no token".to_owned(),
        };
        events::record(
            flow.db,
            now,
            &Actor::System,
            Some(expected),
            "connection.superseded",
            serde_json::json!({ "connection_id": old.id, "by": conn.id, "old_token": outcome }),
        )
        .await?;
    }
    Ok(Ok(replaced))
}

async fn load_connection(
    flow: &Flow<'_>,
    connection_id: i64,
) -> Result<crate::entity::connection::Model> {
    crate::entity::connection::Entity::find_by_id(connection_id)
        .one(flow.db)
        .await?
        .ok_or_else(|| Error::Invalid(format!("no connection {connection_id}")))
}

/// A connection's org and the login host its tokens belong to.
async fn org_and_login(
    flow: &Flow<'_>,
    conn: &crate::entity::connection::Model,
) -> Result<(OrgId, LoginUrl)> {
    let org_id = OrgId::parse(&conn.org_id).map_err(|e| Error::Invalid(e.to_string()))?;
    let o = org::Entity::find_by_id(org_id.as_str())
        .one(flow.db)
        .await?
        .ok_or_else(|| Error::UnknownOrg(org_id.clone()))?;
    let login = login_host(&o, flow.config)?;
    Ok((org_id, login))
}

/// What retrying a connection's verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retry {
    Verified,
    Failed(String),
}

/// Retries the verification of a connection that is still `verifying` (the identity call
/// failed when the admin consented), with the access token stored at consent.
pub async fn retry_verification(
    flow: &Flow<'_>,
    connection_id: i64,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Retry> {
    let conn = load_connection(flow, connection_id).await?;
    if conn.status != "verifying" {
        return Err(Error::Invalid(format!(
            "connection {connection_id} is {}, not waiting for verification",
            conn.status
        )));
    }
    let (org_id, login) = org_and_login(flow, &conn).await?;
    let id_url =
        crate::salesforce::IdUrl::parse(&conn.id_url, &flow.config.salesforce.extra_login_hosts)
            .map_err(|e| Error::Invalid(e.to_string()))?;
    let (Some(ct), Some(key)) = (&conn.access_token_ct, &conn.key_id) else {
        return Err(Error::Invalid(format!(
            "connection {connection_id} has no access token to verify with"
        )));
    };
    let access_token = flow
        .sealer
        .open_str(key, ct, &connections::aad(conn.id, "access_token"))
        .map_err(|e| Error::Invalid(format!("connection {connection_id}: {e}")))?;
    events::record(
        flow.db,
        now,
        actor,
        Some(&org_id),
        "connection.verification_retried",
        serde_json::json!({ "connection_id": conn.id }),
    )
    .await?;
    let previous: Vec<_> = connections::find(flow.db, &org_id, APP, "active")
        .await?
        .into_iter()
        .filter(|c| c.id != conn.id)
        .collect();
    Ok(
        match verify(
            flow,
            &org_id,
            &conn,
            &id_url,
            &access_token,
            &login,
            previous,
            now,
        )
        .await?
        {
            Ok(_) => Retry::Verified,
            Err(reason) => Retry::Failed(reason),
        },
    )
}

/// Revokes a connection's grant at Salesforce and marks it revoked. Revoking the org's working
/// connection sends the org back to re-consent.
pub async fn revoke_connection(
    flow: &Flow<'_>,
    connection_id: i64,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<String> {
    let conn = load_connection(flow, connection_id).await?;
    if matches!(conn.status.as_str(), "revoked" | "superseded") {
        return Err(Error::Invalid(format!(
            "connection {connection_id} is already {}",
            conn.status
        )));
    }
    let (org_id, login) = org_and_login(flow, &conn).await?;
    let outcome = match connections::refresh_token(&conn, flow.sealer)? {
        Some(rt) => match flow.sf.revoke(&login, &rt).await {
            Ok(()) => "revoked at Salesforce".to_owned(),
            Err(e) => format!("Salesforce did not confirm the revocation: {e}"),
        },
        None => "no token was stored".to_owned(),
    };
    connections::set_status(flow.db, conn.id, "revoked", None, now).await?;
    events::record(
        flow.db,
        now,
        actor,
        Some(&org_id),
        "connection.revoked",
        serde_json::json!({ "connection_id": conn.id, "app": conn.app, "outcome": outcome }),
    )
    .await?;
    let working = conn.app == APP && matches!(conn.status.as_str(), "active" | "refreshing");
    if working
        && connections::find(flow.db, &org_id, APP, "active")
            .await?
            .is_empty()
    {
        state::apply(
            flow.db,
            &org_id,
            Change::NeedsReauth {
                reason: format!(
                    "connection {} was revoked by {}",
                    conn.id,
                    actor.name().unwrap_or("staff")
                ),
            },
            actor,
            now,
        )
        .await?;
    }
    Ok(outcome)
}
