//! The token API: the partner's services get access tokens from reauth instead of holding
//! refresh tokens themselves. Bearer API keys; JSON in and out; never cached by intermediaries.
//!
//! | module | owns |
//! |---|---|
//! | `token` | `GET …/access-token` and `POST …/access-token/refresh`, the answer's JSON |
//! | `refusal` | why the vault gave no token, as the API's error codes |

mod refusal;
mod token;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::routing::{get, post};
use http::{StatusCode, header};

use crate::AppState;
use crate::error::AppError;

const OPENAPI: &str = include_str!("openapi.json");

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/orgs/{org_id}/access-token",
            get(token::access_token),
        )
        .route(
            "/api/v1/orgs/{org_id}/access-token/refresh",
            post(token::force_refresh),
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

/// An API error: `code` for programs, `message` for people; rendered as JSON (with the request
/// id, `no-store`) by [`crate::error::render`].
pub(crate) fn error(
    status: StatusCode,
    code: &'static str,
    message: impl Into<String>,
) -> AppError {
    AppError::new(status, code, message)
}

/// The caller's API key, from `Authorization: Bearer rk_…` (its row, shared with the cache).
pub(crate) struct ApiKey(pub Arc<domain::entity::api_key::Model>);

impl ApiKey {
    /// Refuses (403) a key without `scope`.
    pub(crate) fn require(
        &self,
        scope: domain::security::api_keys::ApiScope,
    ) -> Result<(), AppError> {
        if domain::security::api_keys::allows(&self.0, scope) {
            Ok(())
        } else {
            Err(error(
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
    type Rejection = AppError;

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
        let now = state.clock.now();
        let fp = state.api_keys.fingerprint(presented);
        if let Some(k) = state.api_keys.get(fp, now) {
            return Ok(Self(k));
        }
        match domain::security::api_keys::authenticate(&state.db, presented, now).await {
            Ok(Some(k)) => {
                let k = Arc::new(k);
                state.api_keys.put(fp, k.clone(), now);
                Ok(Self(k))
            }
            Ok(None) => Err(error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a valid API key is required (Authorization: Bearer rk_…)",
            )),
            Err(e) => Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "try again shortly",
            )
            .logged(format_args!("API key lookup: {e}"))),
        }
    }
}
