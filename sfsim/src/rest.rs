//! Identity URL, userinfo, discovery, the id-token key set and limits (the queries are in
//! `query`).

use std::sync::Arc;

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::state::{Inner, Shared};

/// 401 `INVALID_SESSION_ID`, as the REST API answers dead or expired access tokens.
fn invalid_session() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(
            json!([{ "message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID" }]),
        ),
    )
        .into_response()
}

fn bearer(h: &HeaderMap) -> Option<String> {
    h.get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::to_owned)
}

/// A request without a live access token: answered 401 `INVALID_SESSION_ID`.
pub struct InvalidSession;

impl IntoResponse for InvalidSession {
    fn into_response(self) -> Response {
        invalid_session()
    }
}

/// The org and user of the request's live access token (a refusal counts in `invalid_session`).
pub fn authed(g: &mut Inner, h: &HeaderMap) -> Result<(String, String), InvalidSession> {
    let who = bearer(h).and_then(|t| {
        g.live_access(&t)
            .map(|(_, gr)| (gr.org_id.clone(), gr.user_id.clone()))
    });
    who.ok_or_else(|| {
        g.stats.invalid_session += 1;
        InvalidSession
    })
}

pub async fn identity(
    shared: Arc<Shared>,
    org: String,
    user: String,
    headers: HeaderMap,
) -> Response {
    crate::server::delay(&shared).await;
    let mut g = shared.lock();
    let (grant_org, grant_user) = match authed(&mut g, &headers) {
        Ok(x) => x,
        Err(r) => return r.into_response(),
    };
    if grant_org != org || grant_user != user {
        return (
            StatusCode::FORBIDDEN,
            Json(json!([{ "message": "Bad_Id", "errorCode": "FORBIDDEN" }])),
        )
            .into_response();
    }
    let Some(u) = g.user_by_id(&user) else {
        return invalid_session();
    };
    let base = &shared.base_url;
    Json(json!({
        "id": format!("{base}/id/{org}/{user}"),
        "asserted_user": true,
        "user_id": u.id,
        "organization_id": u.org_id,
        "username": u.username,
        "nick_name": u.username.split('@').next().unwrap_or_default(),
        "display_name": u.username,
        "email": u.username,
        "email_verified": true,
        "active": !u.frozen,
        "user_type": "STANDARD",
        "is_app_installed": true,
        "urls": {
            "rest": format!("{base}/services/data/v{{version}}/"),
            "query": format!("{base}/services/data/v{{version}}/query/"),
            "custom_domain": base,
        },
    }))
    .into_response()
}

pub async fn userinfo(shared: Arc<Shared>, headers: HeaderMap) -> Response {
    crate::server::delay(&shared).await;
    let mut g = shared.lock();
    let (_, user_id) = match authed(&mut g, &headers) {
        Ok(x) => x,
        Err(r) => return r.into_response(),
    };
    let Some(u) = g.user_by_id(&user_id) else {
        return invalid_session();
    };
    Json(json!({
        "sub": format!("{}/id/{}/{}", shared.base_url, u.org_id, u.id),
        "user_id": u.id,
        "organization_id": u.org_id,
        "preferred_username": u.username,
        "email": u.username,
    }))
    .into_response()
}

pub async fn discovery(shared: Arc<Shared>) -> Response {
    let b = &shared.base_url;
    Json(json!({
        "issuer": b,
        "authorization_endpoint": format!("{b}/services/oauth2/authorize"),
        "token_endpoint": format!("{b}/services/oauth2/token"),
        "revocation_endpoint": format!("{b}/services/oauth2/revoke"),
        "userinfo_endpoint": format!("{b}/services/oauth2/userinfo"),
        "jwks_uri": format!("{b}/id/keys"),
        "response_types_supported": ["code", "token", "token id_token"],
        "scopes_supported": ["api", "web", "full", "refresh_token", "offline_access", "id", "openid", "profile", "email"],
        "code_challenge_methods_supported": ["S256"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
    .into_response()
}

pub async fn limits(shared: Arc<Shared>, headers: HeaderMap) -> Response {
    crate::server::delay(&shared).await;
    let mut g = shared.lock();
    if let Err(r) = authed(&mut g, &headers) {
        return r.into_response();
    }
    Json(json!({ "DailyApiRequests": { "Max": 15000, "Remaining": 14999 } })).into_response()
}

/// `GET /id/keys`: the JWK set that verifies `id_token`s.
pub async fn keys(shared: Arc<Shared>) -> Response {
    match &shared.id_key {
        Some(k) => Json(k.jwks()).into_response(),
        None => Json(json!({ "keys": [] })).into_response(),
    }
}
