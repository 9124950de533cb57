//! Why the vault gave no token, as the token API's error codes.

use domain::vault::{ErrorClass, VaultError};
use http::StatusCode;

use super::error;
use crate::error::AppError;

/// The API's answer for a vault refusal, for the caller to act on.
pub(super) fn refusal(e: VaultError) -> AppError {
    match e {
        VaultError::NoConnection { org_id } => error(
            StatusCode::NOT_FOUND,
            "no_connection",
            format!("org {org_id} has no connection yet"),
        ),
        VaultError::NeedsReauth { org_id, reason } => error(
            StatusCode::CONFLICT,
            "needs_reauth",
            format!("org {org_id} must consent again"),
        )
        .reason(reason),
        VaultError::Quarantined { org_id, reason } => error(
            StatusCode::CONFLICT,
            "connection_held",
            format!("org {org_id}'s connection is held for review by the partner's staff"),
        )
        .reason(reason),
        VaultError::Held { org_id } => error(
            StatusCode::CONFLICT,
            "legacy_held",
            format!(
                "org {org_id}'s legacy connection is held: activate it (`reauth legacy activate`) when your services switch to this API"
            ),
        ),
        VaultError::Busy { org_id } => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            format!("org {org_id}'s token is being refreshed; retry shortly"),
        )
        .retry_after("2"),
        VaultError::Unavailable {
            org_id,
            class: ErrorClass::CustomerSetup,
            detail,
        } => error(
            StatusCode::CONFLICT,
            "customer_action_required",
            format!(
                "org {org_id}: Salesforce refuses refreshes for a setting in the customer's org"
            ),
        )
        .reason(detail),
        VaultError::Unavailable { class, .. } => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "salesforce_unavailable",
            format!("Salesforce could not issue a token right now ({class}); retry shortly"),
        )
        .retry_after("30"),
    }
}
