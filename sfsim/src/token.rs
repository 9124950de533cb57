//! `POST /services/oauth2/token` and `POST /services/oauth2/revoke`.

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
use crate::state::{Grant, GrantOrigin, Inner, ReuseInfo, RevokeReason, RtState, Shared};

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

/// The username-password flow, for the facts' `authentication failure` row. It issues no refresh
/// token, as on Salesforce.
fn password(
    shared: &Shared,
    ip: IpAddr,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Response {
    let mut g = shared.lock();
    let (cid, secret) = client_auth(form, headers);
    let accepted = match check_client(&mut g, cid.as_deref(), secret.as_deref(), false) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
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
        return r.into_response();
    }
    let now = g.now();
    let gid = g.insert_grant(Grant::new(
        &cid,
        &user.org_id,
        &user.id,
        vec!["api".into()],
        now,
        &shared.base_url,
        GrantOrigin::Password,
    ));
    let access = g.mint_access(gid, &user.org_id);
    g.record_login(
        &user.id,
        &user.org_id,
        "OauthUsernamePassword",
        ip,
        "Success",
        &cid,
    );
    let grant = g.grants[&gid].clone();
    Json(token_body(
        &g,
        shared,
        &grant,
        &Answer {
            access: &access,
            refresh: None,
            key: accepted.key.as_deref(),
            id_token: false,
            nonce: None,
        },
    ))
    .into_response()
}

/// `user hasn't approved this consumer` when the app admits only pre-authorized users.
fn not_preauthorized(g: &Inner, client_id: &str, username: &str) -> Option<Refusal> {
    let allowed = g.client(client_id)?.preauthorized_users.as_ref()?;
    (!allowed.iter().any(|u| u == username))
        .then(|| Refusal::grant("user hasn't approved this consumer"))
}

fn ip_allowed(g: &Inner, client_id: &str, ip: IpAddr) -> bool {
    match g.client(client_id) {
        Some(c) if !c.ip_allowlist.is_empty() => c.ip_allowlist.iter().any(|n| n.contains(&ip)),
        _ => true,
    }
}

fn ip_refusal(g: &Inner) -> Refusal {
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

fn code_exchange(
    shared: &Shared,
    ip: IpAddr,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Response {
    let mut g = shared.lock();
    let (cid, secret) = client_auth(form, headers);
    let accepted = match check_client(&mut g, cid.as_deref(), secret.as_deref(), false) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
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
        return r.into_response();
    }
    if g.org_locked(&code.org_id) {
        return oauth_error(400, "inactive_org", "Org is locked, closed, or suspended");
    }
    if !ip_allowed(&g, &cid, ip) {
        g.record_login(
            &code.user_id,
            &code.org_id,
            "OauthWebServer",
            ip,
            "Restricted IP",
            &cid,
        );
        return ip_refusal(&g).into_response();
    }
    let client = g.client(&cid).cloned();
    let Some(client) = client else {
        return oauth_error(400, "invalid_client_id", "client identifier invalid");
    };
    g.make_room_for_approval(&code.user_id, &cid);
    let now = g.now();
    let wants_refresh = client.issue_refresh_token
        && code
            .scopes
            .iter()
            .any(|s| s == "refresh_token" || s == "offline_access");
    let gid = g.insert_grant(Grant::new(
        &cid,
        &code.org_id,
        &code.user_id,
        code.scopes.clone(),
        now,
        &code.login_host,
        GrantOrigin::WebServer,
    ));
    let access = g.mint_access(gid, &code.org_id);
    let refresh = wants_refresh.then(|| g.mint_refresh(gid));
    g.record_login(
        &code.user_id,
        &code.org_id,
        "OauthWebServer",
        ip,
        "Success",
        &cid,
    );
    g.stats.code_exchanges += 1;
    let grant = g.grants[&gid].clone();
    let body = token_body(
        &g,
        shared,
        &grant,
        &Answer {
            access: &access,
            refresh: refresh.as_deref(),
            key: accepted.key.as_deref(),
            id_token: true,
            nonce: code.nonce.as_deref(),
        },
    );
    Json(body).into_response()
}

/// Who presents a refresh token, from where, with which client credentials.
pub struct RefreshCtx {
    pub ip: IpAddr,
    pub client_id: Option<String>,
    pub secret: Option<String>,
    /// Fault injection will drop this answer after the rotation.
    pub drop_answer: bool,
    /// A `/_sim/steal` thief.
    pub thief: bool,
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
                .entry(CONCURRENT.into())
                .or_default() += 1;
            record_for_token(
                &mut g,
                &rt,
                ip,
                &format!("Failed: {}", capitalised(CONCURRENT)),
            );
        }
        duplicate
    };
    if duplicate {
        crate::server::delay(&shared).await;
        return invalid_grant(CONCURRENT);
    }
    // If the client goes away while we "work", this future is dropped: the marker must go too.
    let marker = InFlight {
        shared: shared.clone(),
        token: rt.clone(),
    };
    // The delay is the only await the marker must cover.
    crate::server::delay(&shared).await;
    let (client_id, secret) = client_auth(&form, &headers);
    let ctx = RefreshCtx {
        ip,
        client_id,
        secret,
        drop_answer: drop_after,
        thief: false,
    };
    let result = {
        let mut g = shared.lock();
        let r = refresh_locked(&mut g, &shared, &ctx, &rt);
        g.in_flight.remove(&rt);
        if let Err(refusal) = &r {
            *g.stats
                .refresh_rejected
                .entry(refusal.description.clone())
                .or_default() += 1;
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
        Err(refusal) => refusal.into_response(),
    }
}

pub const CONCURRENT: &str = "token request is already being processed";

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Writes a failed `OauthRefreshToken` row for the user behind a refresh token of a live grant.
pub fn record_for_token(g: &mut Inner, rt: &str, ip: IpAddr, status: &str) {
    let Some(e) = g.refresh.get(rt).copied() else {
        return;
    };
    let Some((user, org, client)) = g
        .grants
        .get(&e.grant)
        .filter(|gr| !gr.revoked)
        .map(|gr| (gr.user_id.clone(), gr.org_id.clone(), gr.client_id.clone()))
    else {
        return;
    };
    g.record_login(&user, &org, "OauthRefreshToken", ip, status, &client);
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

/// One refresh exchange, under the lock. Refusals before the token is identified leave it
/// untouched; a rotated-out token revokes its grant.
pub fn refresh_locked(
    g: &mut Inner,
    shared: &Shared,
    ctx: &RefreshCtx,
    rt: &str,
) -> Result<serde_json::Value, Refusal> {
    let ip = ctx.ip;
    let cid = ctx.client_id.clone().unwrap_or_default();
    if g.client(&cid).is_none() {
        return Err(Refusal::new(
            400,
            "invalid_client_id",
            "client identifier invalid",
        ));
    }
    let entry = g.refresh.get(rt).copied();
    let accepted = match check_client(g, Some(&cid), ctx.secret.as_deref(), true) {
        Ok(a) => a,
        Err(refusal) => {
            // The secret stopped someone holding a token: a failed row for the token's user. The
            // token stays usable unless `bad_secret_revokes_grant` (UNCONFIRMED).
            let of_client = entry
                .and_then(|e| g.grants.get(&e.grant))
                .is_some_and(|gr| gr.client_id == cid && !gr.revoked);
            if of_client {
                let status = g.config.settings.bad_secret_login_status.clone();
                record_for_token(g, rt, ip, &status);
                if g.config.settings.bad_secret_revokes_grant
                    && let Some(e) = entry
                {
                    g.revoke_grant(e.grant, RevokeReason::BadSecret);
                }
            }
            return Err(refusal);
        }
    };
    let expired = "expired access/refresh token";
    let Some(e) = entry else {
        return Err(Refusal::grant(expired));
    };
    let gid = e.grant;
    if g.grants.get(&gid).is_none_or(|gr| gr.client_id != cid) {
        return Err(Refusal::grant(expired));
    }
    match e.state {
        RtState::Rotated => {
            // Reuse of a rotated-out token: revoke the current token and its access tokens.
            g.stats.reuse_detected += 1;
            let now = g.now();
            if let Some(gr) = g.grants.get_mut(&gid)
                && !gr.revoked
            {
                g.stats.grants_revoked_for_reuse += 1;
                gr.reuse = Some(ReuseInfo {
                    generations_behind: gr.rotations.saturating_sub(e.generation),
                    latest_rotation_dropped: gr.last_rotation_dropped,
                    latest_rotation_by_thief: gr.last_rotation_by_thief,
                    at: now,
                });
            }
            g.revoke_grant(gid, RevokeReason::Reuse);
            return Err(Refusal::grant(expired));
        }
        RtState::Revoked => return Err(Refusal::grant(expired)),
        RtState::Current => {}
    }
    let Some(grant) = g.grants.get(&gid).cloned() else {
        return Err(Refusal::grant(expired));
    };
    let client = g
        .client(&cid)
        .cloned()
        .ok_or_else(|| Refusal::new(400, "invalid_client_id", "client identifier invalid"))?;
    let now = g.now();
    // "Requests for refresh tokens increase the use count", even when the login then fails.
    if let Some(gr) = g.grants.get_mut(&gid) {
        gr.use_count += 1;
        gr.last_used = now;
    }
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
        g.revoke_grant(gid, RevokeReason::Expired);
        return Err(Refusal::grant(expired));
    }
    if let Some(username) = g.user_by_id(&grant.user_id).map(|u| u.username.clone())
        && let Some(r) = not_preauthorized(g, &cid, &username)
    {
        return Err(r);
    }
    if g.org_locked(&grant.org_id) {
        return Err(Refusal::new(
            400,
            "inactive_org",
            "Org is locked, closed, or suspended",
        ));
    }
    if !ip_allowed(g, &cid, ip) {
        g.record_login(
            &grant.user_id,
            &grant.org_id,
            "OauthRefreshToken",
            ip,
            "Restricted IP",
            &cid,
        );
        return Err(ip_refusal(g));
    }
    match g.app_state(&grant.org_id, &cid) {
        AppInstall::Blocked => {
            return Err(Refusal::new(
                400,
                "app_blocked",
                "this app is blocked by admin",
            ));
        }
        AppInstall::NotInstalled => {
            return Err(Refusal::new(
                400,
                "app_not_found",
                "External client app is not installed in this org",
            ));
        }
        AppInstall::Installed => {}
    }
    if g.user_by_id(&grant.user_id).is_none_or(|u| u.frozen) {
        return Err(Refusal::grant("inactive user"));
    }
    if g.logins_last_hour(&grant.user_id) >= g.config.settings.login_rate_per_hour {
        g.record_login(
            &grant.user_id,
            &grant.org_id,
            "OauthRefreshToken",
            ip,
            "Login Rate Exceeded",
            &cid,
        );
        return Err(Refusal::grant("login rate exceeded"));
    }
    let access = g.mint_access(gid, &grant.org_id);
    let new_rt = if client.rotation {
        if let Some(en) = g.refresh.get_mut(rt) {
            en.state = RtState::Rotated;
        }
        if let Some(gr) = g.grants.get_mut(&gid) {
            gr.rotations += 1;
            gr.last_rotation_dropped = ctx.drop_answer;
            gr.last_rotation_by_thief = ctx.thief;
        }
        Some(g.mint_refresh(gid))
    } else {
        None
    };
    if let Some(gr) = g.grants.get_mut(&gid) {
        gr.last_exchange = now;
        if ctx.drop_answer {
            gr.dropped_answers += 1;
        }
        if ctx.thief {
            gr.stolen_refreshes += 1;
        }
    }
    g.record_login(
        &grant.user_id,
        &grant.org_id,
        "OauthRefreshToken",
        ip,
        "Success",
        &cid,
    );
    let grant = g.grants[&gid].clone();
    let id_token = g.config.settings.id_token_on_refresh;
    Ok(token_body(
        g,
        shared,
        &grant,
        &Answer {
            access: &access,
            refresh: new_rt.as_deref(),
            key: accepted.key.as_deref(),
            id_token,
            nonce: None,
        },
    ))
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
