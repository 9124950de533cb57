//! The token API: the partner's services get access tokens from reauth instead of holding
//! refresh tokens themselves. Bearer API keys; JSON in and out; never cached by intermediaries.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use domain::types::OrgId;
use domain::vault::{AccessToken, ErrorClass, VaultError};
use http::{HeaderValue, StatusCode, header};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;

use crate::AppState;

const OPENAPI: &str = include_str!("openapi.json");

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/orgs/{org_id}/access-token", get(access_token))
        .route(
            "/api/v1/orgs/{org_id}/access-token/refresh",
            post(force_refresh),
        )
        .route(
            "/api/v1/legacy-connections",
            post(crate::legacy::api_import),
        )
        .route(
            "/api/openapi.json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }),
        )
}

/// A JSON error answer; every API answer is `no-store`.
pub(crate) fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    error_with(status, code, message, None)
}

/// As `error`, with a `reason` the caller can act on.
fn error_with(
    status: StatusCode,
    code: &str,
    message: impl Into<String>,
    reason: Option<String>,
) -> Response {
    let mut body = json!({ "error": code, "message": message.into() });
    if let Some(r) = reason {
        body["reason"] = json!(r);
    }
    let mut r = (status, Json(body)).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    r
}

/// The caller's API key, from `Authorization: Bearer rk_…`.
pub(crate) struct ApiKey(pub domain::entity::api_key::Model);

impl ApiKey {
    /// The refusal (403) for a key without `scope`; `None` when it has it.
    pub(crate) fn refusal(&self, scope: domain::security::api_keys::ApiScope) -> Option<Response> {
        if domain::security::api_keys::allows(&self.0, scope) {
            None
        } else {
            Some(error(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "this API key lacks the `{}` scope (create one with `reauth api-keys create --scope {}`)",
                    scope.as_str(),
                    scope.as_str()
                ),
            ))
        }
    }
}

impl FromRequestParts<AppState> for ApiKey {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or_default();
        if let Some(k) = state.api_keys.get(presented, state.clock.now()) {
            return Ok(Self(k));
        }
        match domain::security::api_keys::authenticate(&state.db, presented, state.clock.now())
            .await
        {
            Ok(Some(k)) => {
                state.api_keys.put(presented, &k, state.clock.now());
                Ok(Self(k))
            }
            Ok(None) => Err(error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a valid API key is required (Authorization: Bearer rk_…)",
            )),
            Err(e) => {
                tracing::error!(error = %e, "API key lookup failed");
                Err(error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "try again shortly",
                ))
            }
        }
    }
}

fn answer(
    vault: &domain::vault::Vault,
    key: &ApiKey,
    result: domain::Result<Result<AccessToken, VaultError>>,
) -> Response {
    let retry_after = |mut r: Response, secs: &'static str| {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static(secs));
        r
    };
    match result {
        Ok(Ok(t)) => {
            vault.count_served(&t, key.0.id);
            let mut r = Json(json!({
                "org_id": t.org_id,
                "access_token": t.token.expose_secret(),
                "instance_url": t.instance_url,
                "issued_at": t.issued_at,
                "app": t.app,
                "sf_user_id": t.sf_user_id,
            }))
            .into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Ok(Err(VaultError::NoConnection { org_id })) => error(
            StatusCode::NOT_FOUND,
            "no_connection",
            format!("org {org_id} has no connection yet"),
        ),
        Ok(Err(VaultError::NeedsReauth { org_id, reason })) => error_with(
            StatusCode::CONFLICT,
            "needs_reauth",
            format!("org {org_id} must consent again"),
            Some(reason),
        ),
        Ok(Err(VaultError::Quarantined { org_id, reason })) => error_with(
            StatusCode::CONFLICT,
            "connection_held",
            format!("org {org_id}'s connection is held for review by the partner's staff"),
            Some(reason),
        ),
        Ok(Err(VaultError::Held { org_id })) => error(
            StatusCode::CONFLICT,
            "legacy_held",
            format!(
                "org {org_id}'s legacy connection is held: activate it (`reauth legacy activate`) when your services switch to this API"
            ),
        ),
        Ok(Err(VaultError::Busy { org_id })) => retry_after(
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                format!("org {org_id}'s token is being refreshed; retry shortly"),
            ),
            "2",
        ),
        Ok(Err(VaultError::Unavailable {
            org_id,
            class: ErrorClass::CustomerSetup,
            detail,
        })) => error_with(
            StatusCode::CONFLICT,
            "customer_action_required",
            format!(
                "org {org_id}: Salesforce refuses refreshes for a setting in the customer's org"
            ),
            Some(detail),
        ),
        Ok(Err(VaultError::Unavailable { class, .. })) => retry_after(
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "salesforce_unavailable",
                format!("Salesforce could not issue a token right now ({class}); retry shortly"),
            ),
            "30",
        ),
        Err(e) => {
            tracing::error!(error = %e, "token API failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "something went wrong on our side",
            )
        }
    }
}

/// Parses the org id and checks the org exists, or answers 404.
async fn known_org(state: &AppState, raw: &str) -> Result<OrgId, Response> {
    let org = OrgId::parse(raw).map_err(|e| {
        error(
            StatusCode::NOT_FOUND,
            "unknown_org",
            format!("`{raw}`: {e}"),
        )
    })?;
    match domain::entity::org::Entity::find_by_id(org.clone())
        .one(&state.db)
        .await
    {
        Ok(Some(_)) => Ok(org),
        Ok(None) => Err(error(
            StatusCode::NOT_FOUND,
            "unknown_org",
            format!("no org {org}"),
        )),
        Err(e) => {
            tracing::error!(error = %e, "org lookup failed");
            Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "try again shortly",
            ))
        }
    }
}

use sea_orm::EntityTrait as _;

async fn access_token(
    State(state): State<AppState>,
    key: ApiKey,
    Path(org_id): Path<String>,
) -> Response {
    if let Some(r) = key.refusal(domain::security::api_keys::ApiScope::TokensRead) {
        return r;
    }
    let org = match known_org(&state, &org_id).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let Some(vault) = &state.vault else {
        return not_configured();
    };
    answer(vault, &key, vault.access_token(&org).await)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ForceBody {
    /// The access token Salesforce just rejected (so a newer one can be returned without an exchange).
    rejected_access_token: Option<String>,
}

async fn force_refresh(
    State(state): State<AppState>,
    key: ApiKey,
    Path(org_id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    if let Some(r) = key.refusal(domain::security::api_keys::ApiScope::TokensRead) {
        return r;
    }
    let org = match known_org(&state, &org_id).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let Some(vault) = &state.vault else {
        return not_configured();
    };
    // The body is optional: an empty POST (whatever its content type) forces a refresh.
    let body: ForceBody = if body.iter().all(u8::is_ascii_whitespace) {
        ForceBody::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(b) => b,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    format!(
                        "the body must be empty or a JSON object like {{\"rejected_access_token\": \"…\"}}: {e}"
                    ),
                );
            }
        }
    };
    answer(
        vault,
        &key,
        vault
            .force_refresh(&org, body.rejected_access_token.as_deref())
            .await,
    )
}

pub(crate) fn not_configured() -> Response {
    tracing::error!("the token API needs salesforce.client_id and crypto.keys");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "not_configured",
        "the token vault is not configured",
    )
}
