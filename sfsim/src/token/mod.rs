//! `POST /services/oauth2/token` and `POST /services/oauth2/revoke`.
//!
//! This module: errors, client authentication, the token answer, fault injection, the grant-type
//! dispatch and revocation; [`code`]: the authorization-code and username-password grants;
//! [`refresh`]: the refresh-token grant with rotation and reuse detection.

mod code;
mod refresh;

use code::{code_exchange, password};
use refresh::refresh;
pub use refresh::{CONCURRENT, RefreshCtx, record_for_token, refresh_locked};

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::Rng;
use serde_json::json;
use sha2::Sha256;

use crate::state::{Grant, Inner, RevokeReason, RtState, Shared};

/// An OAuth error answer with the facts' status, `error` and `error_description`.
pub fn oauth_error(status: u16, error: &str, description: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

pub(crate) fn invalid_grant(d: &str) -> Response {
    oauth_error(400, "invalid_grant", d)
}

/// A refused token request: status, `error` and `error_description`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub error: String,
    pub description: String,
}

impl Refusal {
    pub fn new(status: u16, error: &str, description: &str) -> Self {
        Self {
            status,
            error: error.to_owned(),
            description: description.to_owned(),
        }
    }

    /// 400 `invalid_grant` with a description.
    pub fn grant(description: &str) -> Self {
        Self::new(400, "invalid_grant", description)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        oauth_error(self.status, &self.error, &self.description)
    }
}

/// Client credentials from the body or an HTTP Basic header.
pub(crate) fn client_auth(
    form: &HashMap<String, String>,
    headers: &HeaderMap,
) -> (Option<String>, Option<String>) {
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok());
    if let Some(s) = basic
        && let Some((id, secret)) = s.split_once(':')
    {
        return (Some(id.to_owned()), Some(secret.to_owned()));
    }
    (
        form.get("client_id").cloned(),
        form.get("client_secret").cloned(),
    )
}

/// base64url alphabet only: Salesforce rejects verifiers with `~` (facts §1.2).
pub(crate) fn verifier_charset_ok(v: &str) -> bool {
    !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn signature(secret: &str, id: &str, issued_at: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(id.as_bytes());
    mac.update(issued_at.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// What goes into a success body besides the grant.
pub struct Answer<'a> {
    pub access: &'a str,
    pub refresh: Option<&'a str>,
    /// The secret the client authenticated with (`None`: a public client, signed with its id).
    pub key: Option<&'a str>,
    /// Add an `id_token` if the grant has `openid`.
    pub id_token: bool,
    pub nonce: Option<&'a str>,
}

/// The success body, exactly as the facts describe (no `expires_in`).
pub fn token_body(g: &Inner, shared: &Shared, grant: &Grant, a: &Answer<'_>) -> serde_json::Value {
    let id = format!("{}/id/{}/{}", grant.login_host, grant.org_id, grant.user_id);
    let now = g.now();
    let issued_at = now.timestamp_millis().to_string();
    // Public clients have no secret to sign with; sfsim signs with the client id (documented).
    let sig = signature(a.key.unwrap_or(&grant.client_id), &id, &issued_at);
    let mut body = json!({
        "access_token": a.access,
        "signature": sig,
        "scope": grant.scopes.join(" "),
        "instance_url": shared.base_url,
        "id": id,
        "token_type": "Bearer",
        "issued_at": issued_at,
    });
    if let Some(rt) = a.refresh {
        body["refresh_token"] = json!(rt);
    }
    if a.id_token
        && grant.scopes.iter().any(|s| s == "openid")
        && let Some(key) = &shared.id_key
    {
        let username = g
            .user_by_id(&grant.user_id)
            .map(|u| u.username.clone())
            .unwrap_or_default();
        let claims = crate::oidc::Claims {
            issuer: &grant.login_host,
            identity_url: &id,
            client_id: &grant.client_id,
            user_id: &grant.user_id,
            org_id: &grant.org_id,
            username: &username,
            access_token: a.access,
            nonce: a.nonce,
            now,
        };
        if let Some(jwt) = key.sign(&claims.to_json()) {
            body["id_token"] = json!(jwt);
        }
    }
    body
}

/// How a client authenticated.
pub struct Accepted {
    /// The secret it presented (or, when a refresh needs none, its current one); `None` for a
    /// public client.
    pub key: Option<String>,
}

fn bad_client() -> Refusal {
    Refusal::new(400, "invalid_client", "invalid client credentials")
}

/// Checks client authentication; `refresh` applies `secret_required_for_refresh`. During a
/// staged rotation the previous secret is accepted too (counted in `old_secret_accepted`).
pub fn check_client(
    g: &mut Inner,
    id: Option<&str>,
    secret: Option<&str>,
    refresh: bool,
) -> Result<Accepted, Refusal> {
    let unknown = || Refusal::new(400, "invalid_client_id", "client identifier invalid");
    let Some(id) = id else {
        return Err(unknown());
    };
    let Some(c) = g.client(id) else {
        return Err(unknown());
    };
    let (current, previous) = (c.client_secret.clone(), c.previous_client_secret.clone());
    let optional = refresh && !c.secret_required_for_refresh;
    match (current, secret) {
        // Public clients must not send a secret (facts §0).
        (None, Some(_)) => Err(bad_client()),
        (None, None) => Ok(Accepted { key: None }),
        (Some(expected), Some(given)) if expected == given => Ok(Accepted {
            key: Some(expected),
        }),
        (Some(_), Some(given)) if previous.as_deref() == Some(given) => {
            g.stats.old_secret_accepted += 1;
            Ok(Accepted {
                key: Some(given.to_owned()),
            })
        }
        (Some(_), Some(_)) => Err(bad_client()),
        (Some(expected), None) if optional => Ok(Accepted {
            key: Some(expected),
        }),
        (Some(_), None) => Err(bad_client()),
    }
}

/// `user hasn't approved this consumer` when the app admits only pre-authorized users.
pub(crate) fn not_preauthorized(g: &Inner, client_id: &str, username: &str) -> Option<Refusal> {
    let allowed = g.client(client_id)?.preauthorized_users.as_ref()?;
    (!allowed.iter().any(|u| u == username))
        .then(|| Refusal::grant("user hasn't approved this consumer"))
}

pub(crate) fn ip_allowed(g: &Inner, client_id: &str, ip: IpAddr) -> bool {
    match g.client(client_id) {
        Some(c) if !c.ip_allowlist.is_empty() => c.ip_allowlist.iter().any(|n| n.contains(&ip)),
        _ => true,
    }
}

pub(crate) fn ip_refusal(g: &Inner) -> Refusal {
    let r = &g.config.settings.ip_refusal;
    Refusal::new(r.status, &r.error, &r.description)
}

/// What the fault dice say for one token request.
enum Fault {
    None,
    Unavailable,
    Hang,
    RateLimited,
    DropAfterRotate,
}

fn roll(g: &Inner) -> Fault {
    let f = &g.config.faults;
    let mut rng = rand::thread_rng();
    let mut p: f64 = rng.r#gen();
    for (rate, fault) in [
        (f.error_rate, 1),
        (f.hang_rate, 2),
        (f.rate_limit_rate, 3),
        (f.drop_after_rotate_rate, 4),
    ] {
        if p < rate {
            return match fault {
                1 => Fault::Unavailable,
                2 => Fault::Hang,
                3 => Fault::RateLimited,
                _ => Fault::DropAfterRotate,
            };
        }
        p -= rate;
    }
    Fault::None
}

/// Never answers (until the client gives up and closes the connection).
pub(crate) async fn hang() -> Response {
    tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    StatusCode::GATEWAY_TIMEOUT.into_response()
}

pub async fn token(
    shared: Arc<Shared>,
    ip: IpAddr,
    headers: HeaderMap,
    form: HashMap<String, String>,
) -> Response {
    let fault = roll(&shared.lock());
    match fault {
        Fault::Unavailable => {
            crate::server::delay(&shared).await;
            return (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response();
        }
        Fault::Hang => return hang().await,
        Fault::RateLimited => {
            crate::server::delay(&shared).await;
            let mut g = shared.lock();
            *g.stats
                .refresh_rejected
                .entry("login rate exceeded".into())
                .or_default() += 1;
            return invalid_grant("login rate exceeded");
        }
        _ => {}
    }
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            crate::server::delay(&shared).await;
            code_exchange(&shared, ip, &headers, &form)
        }
        Some("password") => {
            crate::server::delay(&shared).await;
            password(&shared, ip, &headers, &form)
        }
        Some("refresh_token") => {
            refresh(
                shared,
                ip,
                headers,
                form,
                matches!(fault, Fault::DropAfterRotate),
            )
            .await
        }
        _ => {
            crate::server::delay(&shared).await;
            oauth_error(400, "unsupported_grant_type", "grant type not supported")
        }
    }
}

pub async fn revoke(shared: Arc<Shared>, form: HashMap<String, String>) -> Response {
    crate::server::delay(&shared).await;
    let mut g = shared.lock();
    let Some(token) = form.get("token") else {
        return oauth_error(400, "unsupported_token_type", "Token type not supported");
    };
    // No client authentication: Salesforce needs none here (facts §1.6).
    if let Some(e) = g.refresh.get(token).copied() {
        if e.state == RtState::Revoked {
            return oauth_error(400, "invalid_token", "Token was invalid");
        }
        g.revoke_grant(e.grant, RevokeReason::RevokeEndpoint);
        return StatusCode::OK.into_response();
    }
    // `OauthToken.DeleteToken` revokes its grant too.
    if let Some(gid) = g.delete_tokens.get(token).copied() {
        if g.grants.get(&gid).is_none_or(|gr| gr.revoked) {
            return oauth_error(400, "invalid_token", "Token was invalid");
        }
        g.revoke_grant(gid, RevokeReason::RevokeEndpoint);
        return StatusCode::OK.into_response();
    }
    let grant = match g.access.get_mut(token) {
        Some(at) if !at.revoked => {
            at.revoked = true;
            at.grant
        }
        _ => return oauth_error(400, "invalid_token", "Token was invalid"),
    };
    // A grant without a refresh token lives only through its access tokens.
    let orphaned = g
        .grants
        .get(&grant)
        .is_some_and(|gr| gr.current_rt.is_none())
        && !g.has_live_access(grant);
    if orphaned {
        g.revoke_grant(grant, RevokeReason::RevokeEndpoint);
    }
    StatusCode::OK.into_response()
}
