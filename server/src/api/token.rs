//! `GET /api/v1/orgs/{org}/access-token` and `POST …/access-token/refresh`.
//!
//! The cached path (the token in this process's cache) touches no database and takes no lock
//! every request shares for writing: the key from the sharded key cache, the token from the
//! sharded token cache (shared, not copied), the JSON written straight from borrowed fields.

use axum::extract::{Path, State};
use axum::response::Response;
use domain::security::api_keys::ApiScope;
use domain::types::OrgId;
use domain::vault::{AccessToken, Answer, Vault};
use http::{HeaderValue, StatusCode, header};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use super::refusal::refusal;
use super::{ApiKey, error};
use crate::AppState;
use crate::error::AppError;

/// The answer's JSON (the token API's documented shape, `openapi.json`).
#[derive(Serialize)]
struct Body<'a> {
    org_id: &'a str,
    access_token: &'a str,
    instance_url: &'a str,
    issued_at: chrono::DateTime<chrono::Utc>,
    app: domain::entity::connection::ConnectionApp,
    sf_user_id: &'a str,
}

/// The answer's JSON for a token.
fn render(t: &AccessToken) -> bytes::Bytes {
    let body = Body {
        org_id: t.org_id.as_str(),
        access_token: t.token.expose_secret(),
        instance_url: &t.instance_url,
        issued_at: t.issued_at,
        app: t.app,
        sf_user_id: &t.sf_user_id,
    };
    // A struct of strings, a date and an enum always serialises; an empty body would fail the
    // caller's JSON parse loudly rather than pass.
    serde_json::to_vec(&body).unwrap_or_default().into()
}

/// A 200 with the token (its JSON in `json`), counted as served to `key`. Never stored by
/// intermediaries.
fn served(vault: &Vault, key: &ApiKey, t: &AccessToken, json: bytes::Bytes) -> Response {
    vault.count_served(t, key.0.id);
    let mut r = Response::new(axum::body::Body::from(json));
    let h = r.headers_mut();
    // Room for the security headers and the request id added around the router, so the map is
    // allocated once rather than grown.
    h.reserve(10);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The vault's answer as a response.
fn answer(
    vault: &Vault,
    key: &ApiKey,
    result: domain::Result<Answer>,
) -> Result<Response, AppError> {
    let t = result.map_err(AppError::from)?.map_err(refusal)?;
    Ok(served(vault, key, &t, render(&t)))
}

/// Parses the org id (15 or 18 characters), or answers 404 `unknown_org`, and names it in the
/// request's span.
fn org_of(raw: &str) -> Result<OrgId, AppError> {
    let org = OrgId::parse(raw).map_err(|e| {
        error(
            StatusCode::NOT_FOUND,
            "unknown_org",
            format!("`{raw}`: {e}"),
        )
    })?;
    tracing::Span::current().record("org_id", org.as_str());
    Ok(org)
}

pub(super) async fn access_token(
    State(state): State<AppState>,
    key: ApiKey,
    Path(org_id): Path<String>,
) -> Result<Response, AppError> {
    key.require(ApiScope::TokensRead)?;
    let org = org_of(&org_id)?;
    let vault = state.vault()?;
    // A cached token implies a known org: no database on this path.
    if let Some(c) = vault.cached_shared(&org) {
        return Ok(served(vault, &key, &c.token, c.rendered(render)));
    }
    answer(vault, &key, vault.access_token_by_deadline(&org).await)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ForceBody {
    /// The access token Salesforce just rejected (so a newer one can be returned without an exchange).
    rejected_access_token: Option<String>,
}

pub(super) async fn force_refresh(
    State(state): State<AppState>,
    key: ApiKey,
    Path(org_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    key.require(ApiScope::TokensRead)?;
    let org = org_of(&org_id)?;
    let vault = state.vault()?;
    // The body is optional: an empty POST (whatever its content type) forces a refresh.
    let body: ForceBody = if body.iter().all(u8::is_ascii_whitespace) {
        ForceBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!(
                    "the body must be empty or a JSON object like {{\"rejected_access_token\": \"…\"}}: {e}"
                ),
            )
        })?
    };
    let rejected = body.rejected_access_token;
    answer(
        vault,
        &key,
        vault.force_refresh_by_deadline(&org, rejected).await,
    )
}
