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

impl Body {
    /// The row to check and what to do with it.
    fn into_parts(self) -> (RawRow, Options) {
        let row = RawRow {
            org_id: self.org_id,
            refresh_token: self.refresh_token,
            login_url: self.login_url,
            instance_url: self.instance_url,
            sf_user_id: self.sf_user_id,
            sf_username: self.sf_username,
            issued_at: self.issued_at,
            scopes: self.scopes,
        };
        let opts = Options {
            create_orgs: self.create_org,
            force: self.force,
            activate: self.activate,
            ..Options::default()
        };
        (row, opts)
    }
}

pub(crate) async fn api_import(
    State(state): State<AppState>,
    key: ApiKey,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    key.require(ApiScope::LegacyWrite)?;
    let vault = state.vault()?;
    let (row, opts) = parse_body(&body)?.into_parts();
    let extra = &state.config.salesforce.extra_login_hosts;
    let parsed = import::check_one(row, extra)
        .map_err(|e| error(StatusCode::BAD_REQUEST, "invalid", e.to_string()))?;
    let org = parsed.rows[0].org_id.clone();
    let actor = Actor::ApiKey(key.0.name.clone());
    let outcome = import::import(vault, "request", parsed, opts, &actor, &())
        .await
        .map_err(|e| AppError::internal(format_args!("legacy import: {e}")))?;
    let report = outcome.map_err(|errors| refused(&errors))?;
    let c = import::newest_legacy(vault.db(), &org)
        .await?
        .ok_or_else(|| AppError::internal("the imported connection vanished"))?;
    let created = json!({
        "org_id": org,
        "connection_id": c.id,
        "status": c.status,
        "replaced": report.replaced > 0,
    });
    let no_store = [(http::header::CACHE_CONTROL, "no-store")];
    Ok((StatusCode::CREATED, no_store, Json(created)).into_response())
}

/// The body, parsed by hand so a bad one gets our message with serde's quoting of values
/// removed (a token sent in the wrong field must not come back in the error).
fn parse_body(body: &[u8]) -> Result<Body, AppError> {
    serde_json::from_slice(body).map_err(|e| {
        let problem = import::json_problem(&e);
        let message = format!("the body must be one legacy connection as JSON: {problem}");
        error(StatusCode::BAD_REQUEST, "bad_request", message)
    })
}

/// A row the import refused: an org missing from the registry is 404, anything else 409.
fn refused(errors: &[domain::registry::RowError]) -> AppError {
    let message = errors
        .iter()
        .map(|e| format!("{}: {}", e.column, e.message))
        .collect::<Vec<_>>()
        .join("; ");
    if message.contains("not in the registry") {
        error(StatusCode::NOT_FOUND, "unknown_org", message)
    } else {
        error(StatusCode::CONFLICT, "conflict", message)
    }
}
