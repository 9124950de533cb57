//! Refresh failures, classified by `error` *and* `error_description` (many conditions share
//! `invalid_grant`), each with an owner and an action.

pub use crate::entity::connection::ErrorClass;
use crate::salesforce::SfError;

/// Classifies a failed refresh.
pub fn classify(e: &SfError) -> ErrorClass {
    match e {
        SfError::OAuth {
            error, description, ..
        } => {
            let d = description
                .as_deref()
                .unwrap_or_default()
                .to_ascii_lowercase();
            match error.as_str() {
                "invalid_grant" if d.contains("already being processed") => ErrorClass::Ambiguous,
                "invalid_grant" if d.contains("login rate exceeded") => ErrorClass::Transient,
                "invalid_grant"
                    if d.contains("ip restricted")
                        || d.contains("invalid login hours")
                        || d.contains("inactive user")
                        || d.contains("hasn't approved") =>
                {
                    ErrorClass::CustomerSetup
                }
                // `expired access/refresh token`, unknown tokens, reuse: the grant is gone.
                "invalid_grant" => ErrorClass::Revoked,
                "app_blocked"
                | "app_not_found"
                | "inactive_org"
                | "inactive_user"
                | "oauth_flow_disabled"
                | "invalid_app_access"
                | "OAUTH_APP_BLOCKED"
                | "OAUTH_EC_APP_NOT_FOUND"
                | "fail_close_app_blocked" => ErrorClass::CustomerSetup,
                "rate_limit_exceeded" | "slow_down" | "client_blocked_retry" => {
                    ErrorClass::Transient
                }
                "server_error" | "service_unavailable" | "system_down" | "unknown_error" => {
                    ErrorClass::Ambiguous
                }
                // A refusal with any other code: Salesforce answered, so it did not rotate; most
                // likely our client configuration is wrong.
                _ => ErrorClass::Ours,
            }
        }
        SfError::Transport { sent: false, .. } => ErrorClass::Transient,
        SfError::Transport { sent: true, .. } | SfError::Garbage(_) => ErrorClass::Ambiguous,
        // The vault stores the salvaged token before it looks at the class.
        SfError::Salvaged { .. } => ErrorClass::Ambiguous,
        SfError::Rest { .. } => ErrorClass::Ambiguous,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oauth(error: &str, d: &str) -> SfError {
        SfError::OAuth {
            status: 400,
            error: error.into(),
            description: Some(d.into()),
        }
    }

    #[test]
    fn invalid_grant_is_split_by_description() {
        assert_eq!(
            classify(&oauth("invalid_grant", "expired access/refresh token")),
            ErrorClass::Revoked
        );
        assert_eq!(
            classify(&oauth(
                "invalid_grant",
                "token request is already being processed"
            )),
            ErrorClass::Ambiguous
        );
        assert_eq!(
            classify(&oauth("invalid_grant", "login rate exceeded")),
            ErrorClass::Transient
        );
        assert_eq!(
            classify(&oauth("invalid_grant", "ip restricted")),
            ErrorClass::CustomerSetup
        );
        assert_eq!(
            classify(&oauth(
                "invalid_grant",
                "IP restricted or invalid login hours"
            )),
            ErrorClass::CustomerSetup
        );
        assert_eq!(
            classify(&oauth("invalid_grant", "inactive user")),
            ErrorClass::CustomerSetup
        );
        assert_eq!(
            classify(&oauth(
                "invalid_grant",
                "user hasn't approved this consumer"
            )),
            ErrorClass::CustomerSetup
        );
    }

    #[test]
    fn other_codes_and_transport_failures() {
        assert_eq!(
            classify(&oauth(
                "app_not_found",
                "External client app is not installed in this org"
            )),
            ErrorClass::CustomerSetup
        );
        assert_eq!(
            classify(&oauth("invalid_client", "invalid client credentials")),
            ErrorClass::Ours
        );
        assert_eq!(
            classify(&SfError::Transport {
                sent: false,
                detail: "connection failed".into()
            }),
            ErrorClass::Transient
        );
        assert_eq!(
            classify(&SfError::Transport {
                sent: true,
                detail: "timed out".into()
            }),
            ErrorClass::Ambiguous
        );
        assert_eq!(
            classify(&SfError::Garbage("not json".into())),
            ErrorClass::Ambiguous
        );
    }
}
