//! The token API: the partner's services get access tokens from reauth instead of holding
//! refresh tokens themselves. Bearer API keys; JSON in and out; never cached by intermediaries.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use domain::types::OrgId;
use domain::vault::{AccessToken, VaultError};
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
            "/api/openapi.json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }),
        )
}

/// A JSON error answer; every API answer is `no-store`.
fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let mut r = (
        status,
        Json(json!({ "error": code, "message": message.into() })),
    )
        .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    r
}

/// The caller's API key, from `Authorization: Bearer rk_…`.
pub(crate) struct ApiKey(#[allow(dead_code)] pub domain::entity::api_key::Model);

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
        match domain::api_keys::authenticate(&state.db, presented, state.clock.now()).await {
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

fn answer(result: domain::Result<Result<AccessToken, VaultError>>) -> Response {
    match result {
        Ok(Ok(t)) => {
            let mut r = Json(json!({
                "org_id": t.org_id,
                "access_token": t.token.expose_secret(),
                "instance_url": t.instance_url,
                "issued_at": t.issued_at,
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
        Ok(Err(VaultError::NeedsReauth { org_id, reason })) => {
            let mut r = error(
                StatusCode::CONFLICT,
                "needs_reauth",
                format!("org {org_id} must consent again"),
            );
            if let Ok(body) = serde_json::to_vec(
                &json!({ "error": "needs_reauth", "message": format!("org {org_id} must consent again"), "reason": reason }),
            ) {
                *r.body_mut() = axum::body::Body::from(body);
            }
            r
        }
        Ok(Err(VaultError::Unavailable {
            org_id,
            class,
            detail,
        })) if class == "customer_setup" => {
            let mut r = error(
                StatusCode::CONFLICT,
                "customer_action_required",
                format!(
                    "org {org_id}: Salesforce refuses refreshes for a setting in the customer's org"
                ),
            );
            if let Ok(body) = serde_json::to_vec(
                &json!({ "error": "customer_action_required", "message": format!("org {org_id}: Salesforce refuses refreshes for a setting in the customer's org"), "reason": detail }),
            ) {
                *r.body_mut() = axum::body::Body::from(body);
            }
            r
        }
        Ok(Err(VaultError::Unavailable { class, .. })) => {
            let mut r = error(
                StatusCode::SERVICE_UNAVAILABLE,
                "salesforce_unavailable",
                format!("Salesforce could not issue a token right now ({class}); retry shortly"),
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
            r
        }
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
    match domain::entity::org::Entity::find_by_id(org.as_str())
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
    _key: ApiKey,
    Path(org_id): Path<String>,
) -> Response {
    let org = match known_org(&state, &org_id).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let Some(vault) = &state.vault else {
        return not_configured();
    };
    answer(vault.access_token(&org).await)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ForceBody {
    /// The access token Salesforce just rejected (so a newer one can be returned without an exchange).
    rejected_access_token: Option<String>,
}

async fn force_refresh(
    State(state): State<AppState>,
    _key: ApiKey,
    Path(org_id): Path<String>,
    body: Option<Json<ForceBody>>,
) -> Response {
    let org = match known_org(&state, &org_id).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let Some(vault) = &state.vault else {
        return not_configured();
    };
    let body = body.map(|Json(b)| b).unwrap_or_default();
    answer(
        vault
            .force_refresh(&org, body.rejected_access_token.as_deref())
            .await,
    )
}

fn not_configured() -> Response {
    tracing::error!("the token API needs salesforce.client_id and crypto.keys");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "not_configured",
        "the token vault is not configured",
    )
}
