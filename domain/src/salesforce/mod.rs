//! The Salesforce client: authorize URLs with PKCE, the code exchange (through the `oauth2`
//! crate), the `signature` check, the identity URL, and revocation.
//!
//! The HTTP client never follows redirects (a redirect from a token endpoint is an attack or a
//! misconfiguration, never an answer) and every call has a time limit. Token formats are opaque;
//! unknown response fields are ignored.

mod answer;
mod http_client;
mod identity;
mod oauth;
mod query;

pub use answer::{TokenGrant, id_token_nonce, signature_ok};
pub use http_client::{EgressCheck, build_http_client, egress_check, salesforce_http_client};
pub use identity::{IdUrl, Identity};
pub use oauth::{AuthorizeRequest, Pkce, SfClient, authorize_url, wants_id_token};
pub use query::{LoginRow, login_history_soql};

use secrecy::SecretString;

/// How a call to Salesforce failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SfError {
    /// Salesforce answered with an OAuth error (`error`, `error_description`).
    #[error("Salesforce refused: {error}{}", .description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    OAuth {
        status: u16,
        error: String,
        description: Option<String>,
    },
    /// A REST call was refused (e.g. 401 `INVALID_SESSION_ID`).
    #[error("Salesforce answered {status}: {code}")]
    Rest { status: u16, code: String },
    /// No answer: `sent` is false when the request provably never left (connection refused, TLS,
    /// DNS), true or unknown when it may have reached Salesforce (time-out after sending).
    #[error("could not reach Salesforce: {detail}")]
    Transport { sent: bool, detail: String },
    /// An answer we cannot use (not JSON, no access token, a redirect…).
    #[error("unusable answer from Salesforce: {0}")]
    Garbage(String),
    /// An answer we cannot use that nonetheless carries a refresh token: Salesforce has rotated,
    /// so the token is the grant's only live one and must be kept.
    #[error("unusable answer from Salesforce, but it carries a new refresh token: {detail}")]
    Salvaged {
        detail: String,
        refresh_token: SecretString,
    },
}

impl SfClient {
    /// A GET of a Salesforce REST URL (the identity URL, a query) with an access token: the answer
    /// when it is 200, else [`SfError::Rest`] with Salesforce's error code (`[{"errorCode": …}]`
    /// or `{"error": …}`).
    pub(crate) async fn rest_get(
        &self,
        url: &str,
        access_token: &SecretString,
    ) -> Result<reqwest::Response, SfError> {
        use secrecy::ExposeSecret as _;
        let res = self
            .http
            .get(url)
            .bearer_auth(access_token.expose_secret())
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let status = res.status().as_u16();
        if status != 200 {
            let body: serde_json::Value = res.json().await.unwrap_or_default();
            let code = body[0]["errorCode"]
                .as_str()
                .or(body["error"].as_str())
                .unwrap_or("unknown")
                .to_owned();
            return Err(SfError::Rest { status, code });
        }
        Ok(res)
    }
}

/// Classifies a reqwest error: did the request possibly reach the server?
pub(crate) fn transport_error(e: &reqwest::Error) -> SfError {
    // Connection failures (refused, DNS, TLS handshake) happen before the request is written.
    let sent = !e.is_connect();
    let detail = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "connection failed".to_owned()
    } else {
        // The error's Display may include the URL; our URLs never carry secrets.
        e.to_string()
    };
    SfError::Transport { sent, detail }
}
