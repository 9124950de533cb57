//! Identity URL, userinfo, discovery, limits and the `LoginHistory`/`OauthToken` queries.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::state::Shared;

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

pub async fn identity(
    shared: Arc<Shared>,
    org: String,
    user: String,
    headers: HeaderMap,
) -> Response {
    crate::server::delay(&shared).await;
    let g = shared.lock();
    let Some((_, grant)) = bearer(&headers).and_then(|t| g.live_access(&t)) else {
        return invalid_session();
    };
    if grant.org_id != org || grant.user_id != user {
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
    let g = shared.lock();
    let Some((_, grant)) = bearer(&headers).and_then(|t| g.live_access(&t)) else {
        return invalid_session();
    };
    let Some(u) = g.user_by_id(&grant.user_id) else {
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
    let g = shared.lock();
    if bearer(&headers).and_then(|t| g.live_access(&t)).is_none() {
        return invalid_session();
    }
    Json(json!({ "DailyApiRequests": { "Max": 15000, "Remaining": 14999 } })).into_response()
}

/// `SELECT f1, f2 FROM LoginHistory|OauthToken [WHERE UserId = '…'] [LIMIT n]`.
pub async fn query(
    shared: Arc<Shared>,
    headers: HeaderMap,
    q: HashMap<String, String>,
) -> Response {
    crate::server::delay(&shared).await;
    let g = shared.lock();
    let Some((_, grant)) = bearer(&headers).and_then(|t| g.live_access(&t)) else {
        return invalid_session();
    };
    let org = grant.org_id.clone();
    let soql = q.get("q").cloned().unwrap_or_default();
    let malformed = |m: &str| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!([{ "message": m, "errorCode": "MALFORMED_QUERY" }])),
        )
            .into_response()
    };
    let upper = soql.to_ascii_uppercase();
    let (Some(sel), Some(from)) = (upper.find("SELECT "), upper.find(" FROM ")) else {
        return malformed("expected SELECT … FROM …");
    };
    let fields: Vec<String> = soql[sel + 7..from]
        .split(',')
        .map(|f| f.trim().to_owned())
        .filter(|f| !f.is_empty())
        .collect();
    let rest = soql[from + 6..].trim();
    let object = rest
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned();
    let user_filter = upper.find("USERID = '").map(|i| {
        soql[i + 10..]
            .split('\'')
            .next()
            .unwrap_or_default()
            .to_owned()
    });
    let limit = upper
        .find("LIMIT ")
        .and_then(|i| {
            soql[i + 6..]
                .split_whitespace()
                .next()?
                .parse::<usize>()
                .ok()
        })
        .unwrap_or(500);
    let rows: Vec<serde_json::Value> = match object.as_str() {
        "LoginHistory" => g
            .logins
            .iter()
            .filter(|l| l.org_id == org && user_filter.as_ref().is_none_or(|u| &l.user_id == u))
            .rev()
            .take(limit)
            .map(|l| serde_json::to_value(l).unwrap_or_default())
            .collect(),
        "OauthToken" => g
            .grants
            .values()
            .filter(|gr| gr.org_id == org && !gr.revoked && user_filter.as_ref().is_none_or(|u| &gr.user_id == u))
            .take(limit)
            .map(|gr| json!({ "Id": null, "AppName": gr.client_id, "UserId": gr.user_id, "UseCount": gr.use_count, "LastUsedDate": gr.last_exchange.to_rfc3339(), "CreatedDate": gr.created.to_rfc3339() }))
            .collect(),
        other => return malformed(&format!("sObject type '{other}' is not supported by sfsim")),
    };
    let records: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|r| {
            let mut out = serde_json::Map::new();
            out.insert("attributes".into(), json!({ "type": object }));
            for f in &fields {
                out.insert(
                    f.clone(),
                    r.get(f).cloned().unwrap_or(serde_json::Value::Null),
                );
            }
            serde_json::Value::Object(out)
        })
        .collect();
    Json(json!({ "totalSize": records.len(), "done": true, "records": records })).into_response()
}
