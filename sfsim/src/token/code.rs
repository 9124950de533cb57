//! The authorization-code grant (PKCE, redirect URI, one use) and the username-password grant.

use super::{
    Answer, check_client, client_auth, invalid_grant, ip_allowed, ip_refusal, not_preauthorized,
    oauth_error, token_body, verifier_charset_ok,
};
use crate::state::{Grant, GrantOrigin, Shared};
use axum::Json;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;

/// The username-password flow, for the facts' `authentication failure` row. It issues no refresh
/// token, as on Salesforce.
pub(super) fn password(
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

pub(super) fn code_exchange(
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
