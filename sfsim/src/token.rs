//! `POST /services/oauth2/token` and `POST /services/oauth2/revoke`.

// The error side of these results is the HTTP answer itself; boxing it would only add noise.
#![allow(clippy::result_large_err)]

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
use sha2::{Digest, Sha256};

use crate::config::{AppInstall, RefreshPolicy};
use crate::state::{Grant, Inner, RtState, Shared};

/// An OAuth error answer with the facts' status, `error` and `error_description`.
pub fn oauth_error(status: u16, error: &str, description: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

fn invalid_grant(d: &str) -> Response {
    oauth_error(400, "invalid_grant", d)
}

/// Client credentials from the body or an HTTP Basic header.
fn client_auth(
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
fn verifier_charset_ok(v: &str) -> bool {
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

/// The success body, exactly as the facts describe (no `expires_in`).
fn token_body(
    g: &Inner,
    base_url: &str,
    grant: &Grant,
    access: &str,
    refresh: Option<&str>,
    secret: Option<&str>,
) -> serde_json::Value {
    let id = format!("{}/id/{}/{}", grant.login_host, grant.org_id, grant.user_id);
    let issued_at = g.now().timestamp_millis().to_string();
    // Public clients have no secret to sign with; sfsim signs with the client id (documented).
    let sig = signature(secret.unwrap_or(&grant.client_id), &id, &issued_at);
    let mut body = json!({
        "access_token": access,
        "signature": sig,
        "scope": grant.scopes.join(" "),
        "instance_url": base_url,
        "id": id,
        "token_type": "Bearer",
        "issued_at": issued_at,
    });
    if let Some(rt) = refresh {
        body["refresh_token"] = json!(rt);
    }
    body
}

/// Checks client authentication; `refresh` applies `secret_required_for_refresh`.
fn check_client(
    g: &Inner,
    id: Option<&str>,
    secret: Option<&str>,
    refresh: bool,
) -> Result<(), Response> {
    let Some(id) = id else {
        return Err(oauth_error(
            400,
            "invalid_client_id",
            "client identifier invalid",
        ));
    };
    let Some(c) = g.client(id) else {
        return Err(oauth_error(
            400,
            "invalid_client_id",
            "client identifier invalid",
        ));
    };
    match (&c.client_secret, secret) {
        // Public clients must not send a secret (facts §0).
        (None, Some(_)) => Err(oauth_error(
            400,
            "invalid_client",
            "invalid client credentials",
        )),
        (None, None) => Ok(()),
        (Some(expected), Some(given)) if expected == given => Ok(()),
        (Some(_), Some(_)) => Err(oauth_error(
            400,
            "invalid_client",
            "invalid client credentials",
        )),
        (Some(_), None) if refresh && !c.secret_required_for_refresh => Ok(()),
        (Some(_), None) => Err(oauth_error(
            400,
            "invalid_client",
            "invalid client credentials",
        )),
    }
}

/// The username-password flow, for the facts' `authentication failure` row. It issues no refresh
/// token, as on Salesforce.
fn password(shared: &Shared, headers: &HeaderMap, form: &HashMap<String, String>) -> Response {
    let mut g = shared.lock();
    let (cid, secret) = client_auth(form, headers);
    if let Err(r) = check_client(&g, cid.as_deref(), secret.as_deref(), false) {
        return r;
    }
    let cid = cid.unwrap_or_default();
    let user = form
        .get("username")
        .and_then(|n| g.user_by_name(n))
        .filter(|u| Some(&u.password) == form.get("password"))
        .cloned();
    let Some(user) = user else {
        return invalid_grant("authentication failure");
    };
    if user.frozen {
        return invalid_grant("inactive user");
    }
    if let Some(r) = not_preauthorized(&g, &cid, &user.username) {
        return r;
    }
    let gid = g.next_grant;
    g.next_grant += 1;
    let now = g.now();
    g.grants.insert(
        gid,
        Grant {
            client_id: cid.clone(),
            org_id: user.org_id.clone(),
            user_id: user.id.clone(),
            scopes: vec!["api".into()],
            created: now,
            last_exchange: now,
            current_rt: None,
            use_count: 1,
            revoked: false,
            login_host: shared.base_url.clone(),
        },
    );
    let access = g.mint_access(gid, &user.org_id);
    g.record_login(
        &user.id,
        &user.org_id,
        "OauthUsernamePassword",
        "127.0.0.1",
        "Success",
        &cid,
    );
    let grant = g.grants[&gid].clone();
    let secret = g.client(&cid).and_then(|c| c.client_secret.clone());
    Json(token_body(
        &g,
        &shared.base_url,
        &grant,
        &access,
        None,
        secret.as_deref(),
    ))
    .into_response()
}

/// `user hasn't approved this consumer` when the app admits only pre-authorized users.
fn not_preauthorized(g: &Inner, client_id: &str, username: &str) -> Option<Response> {
    let allowed = g.client(client_id)?.preauthorized_users.as_ref()?;
    (!allowed.iter().any(|u| u == username))
        .then(|| invalid_grant("user hasn't approved this consumer"))
}

fn ip_allowed(g: &Inner, client_id: &str, ip: IpAddr) -> bool {
    match g.client(client_id) {
        Some(c) if !c.ip_allowlist.is_empty() => c.ip_allowlist.iter().any(|n| n.contains(&ip)),
        _ => true,
    }
}

fn ip_refusal(g: &Inner) -> Response {
    let r = &g.config.settings.ip_refusal;
    oauth_error(r.status, &r.error, &r.description)
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
async fn hang() -> Response {
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
            password(&shared, &headers, &form)
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

fn code_exchange(
    shared: &Shared,
    ip: IpAddr,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Response {
    let mut g = shared.lock();
    let (cid, secret) = client_auth(form, headers);
    if let Err(r) = check_client(&g, cid.as_deref(), secret.as_deref(), false) {
        return r;
    }
    let cid = cid.unwrap_or_default();
    let Some(code) = form.get("code").and_then(|c| g.codes.remove(c)) else {
        return invalid_grant("invalid authorization code");
    };
    if code.client_id != cid {
        return invalid_grant("invalid authorization code");
    }
    if code.expires < g.now() {
        return invalid_grant("expired authorization code");
    }
    if form.get("redirect_uri") != Some(&code.redirect_uri) {
        return oauth_error(
            400,
            "redirect_uri_mismatch",
            "redirect_uri must match configuration",
        );
    }
    match (&code.challenge, form.get("code_verifier")) {
        (Some(_), None) => {
            return invalid_grant(&g.config.settings.missing_verifier_description.clone());
        }
        (None, Some(_)) => return invalid_grant("unexpected code verifier"),
        (Some(ch), Some(v)) => {
            let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(Sha256::digest(v.as_bytes()));
            if !verifier_charset_ok(v) || &computed != ch {
                return invalid_grant("invalid code verifier");
            }
        }
        (None, None) => {}
    }
    if let Some(username) = g.user_by_id(&code.user_id).map(|u| u.username.clone())
        && let Some(r) = not_preauthorized(&g, &cid, &username)
    {
        return r;
    }
    if g.org_locked(&code.org_id) {
        return oauth_error(400, "inactive_org", "Org is locked, closed, or suspended");
    }
    if !ip_allowed(&g, &cid, ip) {
        g.record_login(
            &code.user_id,
            &code.org_id,
            "OauthWebServer",
            &ip.to_string(),
            "Restricted IP",
            &cid,
        );
        return ip_refusal(&g);
    }
    let client = g.client(&cid).cloned();
    let Some(client) = client else {
        return oauth_error(400, "invalid_client_id", "client identifier invalid");
    };

    // Five approvals per user per app: the oldest is revoked beyond that (facts §6).
    let mut mine: Vec<(u64, chrono::DateTime<chrono::Utc>)> = g
        .grants
        .iter()
        .filter(|(_, gr)| gr.user_id == code.user_id && gr.client_id == cid && !gr.revoked)
        .map(|(id, gr)| (*id, gr.created))
        .collect();
    mine.sort_by_key(|(_, c)| *c);
    while mine.len() >= 5 {
        let (oldest, _) = mine.remove(0);
        g.revoke_grant(oldest);
    }

    let gid = g.next_grant;
    g.next_grant += 1;
    let now = g.now();
    let wants_refresh = client.issue_refresh_token
        && code
            .scopes
            .iter()
            .any(|s| s == "refresh_token" || s == "offline_access");
    g.grants.insert(
        gid,
        Grant {
            client_id: cid.clone(),
            org_id: code.org_id.clone(),
            user_id: code.user_id.clone(),
            scopes: code.scopes.clone(),
            created: now,
            last_exchange: now,
            current_rt: None,
            use_count: 1,
            revoked: false,
            login_host: code.login_host.clone(),
        },
    );
    let access = g.mint_access(gid, &code.org_id);
    let refresh = wants_refresh.then(|| g.mint_refresh(gid));
    g.record_login(
        &code.user_id,
        &code.org_id,
        "OauthWebServer",
        &ip.to_string(),
        "Success",
        &cid,
    );
    g.stats.code_exchanges += 1;
    let grant = g.grants[&gid].clone();
    let body = token_body(
        &g,
        &shared.base_url,
        &grant,
        &access,
        refresh.as_deref(),
        client.client_secret.as_deref(),
    );
    Json(body).into_response()
}

async fn refresh(
    shared: Arc<Shared>,
    ip: IpAddr,
    headers: HeaderMap,
    form: HashMap<String, String>,
    drop_after: bool,
) -> Response {
    let Some(rt) = form.get("refresh_token").cloned() else {
        crate::server::delay(&shared).await;
        return oauth_error(400, "invalid_request", "refresh_token is required");
    };
    // Mark in flight before the (simulated) work, so a concurrent duplicate sees it.
    let duplicate = {
        let mut g = shared.lock();
        let duplicate = !g.in_flight.insert(rt.clone());
        if duplicate {
            g.stats.concurrent_rejected += 1;
            *g.stats
                .refresh_rejected
                .entry("token request is already being processed".into())
                .or_default() += 1;
        }
        duplicate
    };
    if duplicate {
        crate::server::delay(&shared).await;
        return invalid_grant("token request is already being processed");
    }
    // If the client goes away while we "work", this future is dropped: the marker must go too.
    let marker = InFlight {
        shared: shared.clone(),
        token: rt.clone(),
    };
    // The delay is the only await the marker must cover.
    crate::server::delay(&shared).await;
    let result = {
        let mut g = shared.lock();
        let r = refresh_locked(&mut g, &shared.base_url, ip, &headers, &form, &rt);
        g.in_flight.remove(&rt);
        if let Err((desc, _)) = &r {
            *g.stats.refresh_rejected.entry(desc.clone()).or_default() += 1;
        } else if drop_after {
            g.stats.dropped_responses += 1;
        } else {
            g.stats.refresh_ok += 1;
        }
        r
    };
    // Cleared inside the block above; disarm the guard so it cannot touch a later request's marker.
    let mut marker = marker;
    marker.token.clear();
    drop(marker);
    match result {
        Ok(_) if drop_after => hang().await,
        Ok(body) => Json(body).into_response(),
        Err((_, resp)) => resp,
    }
}

/// Clears a token's in-flight marker when the request ends, however it ends.
struct InFlight {
    shared: Arc<Shared>,
    token: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if !self.token.is_empty() {
            self.shared.lock().in_flight.remove(&self.token);
        }
    }
}

type Refused = (String, Response);

fn refused(r: Response, desc: &str) -> Refused {
    (desc.to_owned(), r)
}

fn refresh_locked(
    g: &mut Inner,
    base_url: &str,
    ip: IpAddr,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
    rt: &str,
) -> Result<serde_json::Value, Refused> {
    let (cid, secret) = client_auth(form, headers);
    check_client(g, cid.as_deref(), secret.as_deref(), true)
        .map_err(|r| refused(r, "invalid client credentials"))?;
    let cid = cid.unwrap_or_default();
    let expired = "expired access/refresh token";
    let Some((gid, st)) = g.refresh.get(rt).copied() else {
        return Err(refused(invalid_grant(expired), expired));
    };
    match st {
        RtState::Rotated => {
            // Reuse of a rotated-out token: revoke the current token and its access tokens.
            g.stats.reuse_detected += 1;
            if g.grants.get(&gid).is_some_and(|gr| !gr.revoked) {
                g.stats.grants_revoked_for_reuse += 1;
            }
            g.revoke_grant(gid);
            return Err(refused(invalid_grant(expired), expired));
        }
        RtState::Revoked => return Err(refused(invalid_grant(expired), expired)),
        RtState::Current => {}
    }
    let Some(grant) = g.grants.get(&gid).cloned() else {
        return Err(refused(invalid_grant(expired), expired));
    };
    if grant.client_id != cid {
        return Err(refused(invalid_grant(expired), expired));
    }
    let client = g.client(&cid).cloned().ok_or_else(|| {
        refused(
            oauth_error(400, "invalid_client_id", "client identifier invalid"),
            "client identifier invalid",
        )
    })?;
    let now = g.now();
    let too_old = match client.refresh_policy {
        RefreshPolicy::Infinite => false,
        RefreshPolicy::Idle(d) => {
            now - grant.last_exchange > chrono::Duration::from_std(d).unwrap_or_default()
        }
        RefreshPolicy::Lifetime(d) => {
            now - grant.created > chrono::Duration::from_std(d).unwrap_or_default()
        }
    };
    if too_old {
        g.revoke_grant(gid);
        return Err(refused(invalid_grant(expired), expired));
    }
    if let Some(username) = g.user_by_id(&grant.user_id).map(|u| u.username.clone())
        && let Some(r) = not_preauthorized(g, &cid, &username)
    {
        return Err(refused(r, "user hasn't approved this consumer"));
    }
    if g.org_locked(&grant.org_id) {
        let d = "Org is locked, closed, or suspended";
        return Err(refused(oauth_error(400, "inactive_org", d), d));
    }
    if !ip_allowed(g, &cid, ip) {
        g.record_login(
            &grant.user_id,
            &grant.org_id,
            "OauthRefreshToken",
            &ip.to_string(),
            "Restricted IP",
            &cid,
        );
        let desc = g.config.settings.ip_refusal.description.clone();
        return Err(refused(ip_refusal(g), &desc));
    }
    match g.app_state(&grant.org_id, &cid) {
        AppInstall::Blocked => {
            return Err(refused(
                oauth_error(400, "app_blocked", "this app is blocked by admin"),
                "this app is blocked by admin",
            ));
        }
        AppInstall::NotInstalled => {
            let d = "External client app is not installed in this org";
            return Err(refused(oauth_error(400, "app_not_found", d), d));
        }
        AppInstall::Installed => {}
    }
    if g.user_by_id(&grant.user_id).is_none_or(|u| u.frozen) {
        return Err(refused(invalid_grant("inactive user"), "inactive user"));
    }
    if g.logins_last_hour(&grant.user_id) >= g.config.settings.login_rate_per_hour {
        return Err(refused(
            invalid_grant("login rate exceeded"),
            "login rate exceeded",
        ));
    }
    let access = g.mint_access(gid, &grant.org_id);
    let new_rt = if client.rotation {
        g.refresh.insert(rt.to_owned(), (gid, RtState::Rotated));
        Some(g.mint_refresh(gid))
    } else {
        None
    };
    if let Some(gr) = g.grants.get_mut(&gid) {
        gr.last_exchange = now;
        gr.use_count += 1;
    }
    g.record_login(
        &grant.user_id,
        &grant.org_id,
        "OauthRefreshToken",
        &ip.to_string(),
        "Success",
        &cid,
    );
    let grant = g.grants[&gid].clone();
    Ok(token_body(
        g,
        base_url,
        &grant,
        &access,
        new_rt.as_deref(),
        client.client_secret.as_deref(),
    ))
}

pub async fn revoke(shared: Arc<Shared>, form: HashMap<String, String>) -> Response {
    crate::server::delay(&shared).await;
    let mut g = shared.lock();
    let Some(token) = form.get("token") else {
        return oauth_error(400, "unsupported_token_type", "Token type not supported");
    };
    if let Some((gid, st)) = g.refresh.get(token).copied() {
        if st == RtState::Revoked {
            return oauth_error(400, "invalid_token", "Token was invalid");
        }
        g.revoke_grant(gid);
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
        g.revoke_grant(grant);
    }
    StatusCode::OK.into_response()
}
