//! The legacy cut-over over HTTP: `POST /api/v1/legacy-connections` (a partner streams its
//! token table across, one connection per request) and the staff page `/legacy` (readiness).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use domain::events::Actor;
use domain::legacy::import::{self, Options, RawRow};
use domain::security::api_keys::ApiScope;
use http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::api::{ApiKey, error, not_configured};

/// The request body: one row of the import format, and what to do with it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Body {
    #[serde(flatten)]
    row: RawRow,
    #[serde(default)]
    activate: bool,
    #[serde(default)]
    force: bool,
    #[serde(default)]
    create_org: bool,
}

pub(crate) async fn api_import(
    State(state): State<AppState>,
    key: ApiKey,
    body: axum::body::Bytes,
) -> Response {
    if let Some(r) = key.refusal(ApiScope::LegacyWrite) {
        return r;
    }
    let Some(vault) = &state.vault else {
        return not_configured();
    };
    // Parsed by hand so a bad body gets our message (serde's never quotes the token: it names
    // fields and positions).
    let body: Body = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("the body must be one legacy connection as JSON: {e}"),
            );
        }
    };
    let extra = &state.config.salesforce.extra_login_hosts;
    let parsed = match import::check_one(body.row, extra) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, "invalid", e.to_string()),
    };
    let org = parsed.rows[0].org_id.clone();
    let opts = Options {
        create_orgs: body.create_org,
        force: body.force,
        activate: body.activate,
        ..Options::default()
    };
    let actor = Actor::ApiKey(key.0.name.clone());
    match import::import(vault, "request", parsed, opts, &actor, &()).await {
        Ok(Ok(report)) => {
            let conn = domain::legacy::import::newest_legacy(vault.db(), &org).await;
            match conn {
                Ok(Some(c)) => (
                    StatusCode::CREATED,
                    [(http::header::CACHE_CONTROL, "no-store")],
                    Json(json!({
                        "org_id": org,
                        "connection_id": c.id,
                        "status": c.status,
                        "replaced": report.replaced > 0,
                    })),
                )
                    .into_response(),
                Ok(None) | Err(_) => error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "something went wrong on our side",
                ),
            }
        }
        Ok(Err(errors)) => {
            let message = errors
                .iter()
                .map(|e| format!("{}: {}", e.column, e.message))
                .collect::<Vec<_>>()
                .join("; ");
            let status = if message.contains("not in the registry") {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::CONFLICT
            };
            let code = if status == StatusCode::NOT_FOUND {
                "unknown_org"
            } else {
                "conflict"
            };
            error(status, code, message)
        }
        Err(e) => {
            tracing::error!(error = %e, "legacy import failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "something went wrong on our side",
            )
        }
    }
}
