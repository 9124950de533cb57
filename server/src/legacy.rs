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
use crate::api::{ApiKey, error};
use crate::error::AppError;

/// The request body: one row of the import format, and what to do with it. Spelled out (not a
/// flattened `RawRow`): serde cannot refuse unknown fields through `flatten`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Body {
    org_id: Option<String>,
    refresh_token: Option<String>,
    login_url: Option<String>,
    instance_url: Option<String>,
    sf_user_id: Option<String>,
    sf_username: Option<String>,
    issued_at: Option<String>,
    scopes: Option<String>,
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
) -> Result<Response, AppError> {
    key.require(ApiScope::LegacyWrite)?;
    let vault = state.vault()?;
    // Parsed by hand so a bad body gets our message, with serde's quoting of values removed (a
    // token sent in the wrong field must not come back in the error).
    let body: Body = serde_json::from_slice(&body).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!(
                "the body must be one legacy connection as JSON: {}",
                import::json_problem(&e)
            ),
        )
    })?;
    let row = RawRow {
        org_id: body.org_id,
        refresh_token: body.refresh_token,
        login_url: body.login_url,
        instance_url: body.instance_url,
        sf_user_id: body.sf_user_id,
        sf_username: body.sf_username,
        issued_at: body.issued_at,
        scopes: body.scopes,
    };
    let extra = &state.config.salesforce.extra_login_hosts;
    let parsed = import::check_one(row, extra)
        .map_err(|e| error(StatusCode::BAD_REQUEST, "invalid", e.to_string()))?;
    let org = parsed.rows[0].org_id.clone();
    let opts = Options {
        create_orgs: body.create_org,
        force: body.force,
        activate: body.activate,
        ..Options::default()
    };
    let actor = Actor::ApiKey(key.0.name.clone());
    let outcome = import::import(vault, "request", parsed, opts, &actor, &())
        .await
        .map_err(|e| AppError::internal(format_args!("legacy import: {e}")))?;
    match outcome {
        Ok(report) => {
            let c = domain::legacy::import::newest_legacy(vault.db(), &org)
                .await?
                .ok_or_else(|| AppError::internal("the imported connection vanished"))?;
            Ok((
                StatusCode::CREATED,
                [(http::header::CACHE_CONTROL, "no-store")],
                Json(json!({
                    "org_id": org,
                    "connection_id": c.id,
                    "status": c.status,
                    "replaced": report.replaced > 0,
                })),
            )
                .into_response())
        }
        Err(errors) => {
            let message = errors
                .iter()
                .map(|e| format!("{}: {}", e.column, e.message))
                .collect::<Vec<_>>()
                .join("; ");
            Err(if message.contains("not in the registry") {
                error(StatusCode::NOT_FOUND, "unknown_org", message)
            } else {
                error(StatusCode::CONFLICT, "conflict", message)
            })
        }
    }
}
