//! Salesforce's token answers, checked: the tokens are always kept; what looks wrong about the
//! rest (an unknown host, a signature that does not match, a malformed timestamp) is reported
//! as an anomaly beside them, never as a reason to throw a rotated token away.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use oauth2::basic::BasicErrorResponse;
use oauth2::{ExtraTokenFields, RequestTokenError, TokenResponse};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::SfError;
use super::identity::IdUrl;
use super::oauth::{SendError, SfClient, SfTokenResponse};
use crate::types::LoginUrl;

/// Salesforce's extra token-response fields. All optional: an answer that lacks one still
/// carries tokens that must not be thrown away (see [`SfClient::check`]).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct SfFields {
    #[serde(default)]
    pub instance_url: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub issued_at: Option<String>,
    #[serde(default)]
    pub signature: Option<String>,
    #[serde(default)]
    pub id_token: Option<String>,
}

impl ExtraTokenFields for SfFields {}

/// A successful token answer. Its tokens are always usable; what looked wrong about the rest of
/// the answer (an identity or instance URL on a host we do not recognise, a `signature` that does
/// not match the client secret, an `issued_at` that is not a timestamp) is in `anomalies`, never
/// a reason to throw the tokens away: once Salesforce has rotated a refresh token, the old one is
/// dead and the new one must be kept.
pub struct TokenGrant {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    /// The identity URL, when the answer carried one on a recognised host.
    pub id: Option<IdUrl>,
    /// The instance URL, when the answer carried one on a recognised host.
    pub instance_url: Option<String>,
    pub issued_at_ms: Option<i64>,
    pub scopes: Vec<String>,
    /// The OpenID Connect ID token, when `openid` was granted.
    pub id_token: Option<String>,
    /// What looked wrong, in words for an operator (no token in them).
    pub anomalies: Vec<String>,
    /// The fingerprint of the client secret Salesforce accepted (`None` for a public client).
    pub accepted_secret: Option<String>,
    /// Whether that was not the newest configured secret (a rotation Salesforce has not taken).
    pub previous_secret_accepted: bool,
}

impl std::fmt::Debug for TokenGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenGrant")
            .field("instance_url", &self.instance_url)
            .field("id", &self.id)
            .field("has_refresh_token", &self.refresh_token.is_some())
            .field("anomalies", &self.anomalies)
            .finish_non_exhaustive()
    }
}

/// The parts of a token answer, before checking.
#[derive(Default)]
pub(super) struct RawAnswer {
    pub(super) access_token: Option<String>,
    pub(super) refresh_token: Option<String>,
    pub(super) scope: Option<String>,
    pub(super) fields: SfFields,
}

impl RawAnswer {
    /// Reads an answer oauth2 could not parse (a missing `token_type`, a field of an unexpected
    /// type…) from its body, so whatever tokens it carries are kept.
    pub(super) fn from_body(body: &[u8]) -> Option<Self> {
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
        let any_text = |k: &str| {
            v.get(k).and_then(|x| match x {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
        };
        Some(Self {
            access_token: text("access_token"),
            refresh_token: text("refresh_token"),
            scope: text("scope"),
            fields: SfFields {
                instance_url: text("instance_url"),
                id: text("id"),
                issued_at: any_text("issued_at"),
                signature: text("signature"),
                id_token: text("id_token"),
            },
        })
    }
}

impl SfClient {
    pub(super) fn grant(
        &self,
        res: Result<SfTokenResponse, RequestTokenError<SendError, BasicErrorResponse>>,
        secret: Option<&SecretString>,
    ) -> Result<TokenGrant, SfError> {
        let raw = match res {
            Ok(t) => RawAnswer {
                access_token: Some(t.access_token().secret().clone()),
                refresh_token: t.refresh_token().map(|r| r.secret().clone()),
                scope: t.scopes().map(|s| {
                    s.iter()
                        .map(|x| x.to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                }),
                fields: t.extra_fields().clone(),
            },
            Err(RequestTokenError::ServerResponse(e)) => {
                return Err(SfError::OAuth {
                    status: 400,
                    error: e.error().as_ref().to_owned(),
                    description: e.error_description().cloned(),
                });
            }
            Err(RequestTokenError::Request(SendError(e))) => return Err(e),
            Err(RequestTokenError::Parse(e, body)) => match RawAnswer::from_body(&body) {
                Some(raw) if raw.access_token.is_some() || raw.refresh_token.is_some() => raw,
                _ => return Err(SfError::Garbage(format!("token answer is not valid: {e}"))),
            },
            Err(RequestTokenError::Other(e)) => return Err(SfError::Garbage(e)),
        };
        self.check(raw, secret)
    }

    /// Turns an answer's parts into a grant. Only a missing access token makes it unusable, and
    /// even then a refresh token it carries is handed back (`SfError::Salvaged`) to be kept.
    pub(super) fn check(
        &self,
        raw: RawAnswer,
        secret: Option<&SecretString>,
    ) -> Result<TokenGrant, SfError> {
        let RawAnswer {
            access_token,
            refresh_token,
            scope,
            fields,
        } = raw;
        let refresh_token = refresh_token
            .filter(|r| !r.is_empty())
            .map(SecretString::from);
        let Some(access_token) = access_token.filter(|a| !a.is_empty()) else {
            return Err(match refresh_token {
                Some(refresh_token) => SfError::Salvaged {
                    detail: "the answer carries a refresh token but no access token".into(),
                    refresh_token,
                },
                None => SfError::Garbage("the answer carries no access token".into()),
            });
        };
        let mut anomalies = Vec::new();
        let id = match &fields.id {
            Some(s) => match IdUrl::parse(s, &self.extra_hosts) {
                Ok(id) => Some(id),
                Err(e) => {
                    anomalies.push(e.to_string());
                    None
                }
            },
            None => {
                anomalies.push("the answer carries no identity URL (`id`)".into());
                None
            }
        };
        let instance_url = match &fields.instance_url {
            Some(s) => match check_instance_url(s, &self.extra_hosts) {
                Ok(u) => Some(u),
                Err(e) => {
                    anomalies.push(e.to_string());
                    None
                }
            },
            None => {
                anomalies.push("the answer carries no instance_url".into());
                None
            }
        };
        let issued_at_ms = match &fields.issued_at {
            Some(s) => match s.parse::<i64>() {
                Ok(ms) => Some(ms),
                Err(_) => {
                    anomalies.push("issued_at is not a millisecond timestamp".into());
                    None
                }
            },
            None => None,
        };
        if let Some(secret) = secret {
            // Salesforce signs id + issued_at with the client secret; a mismatch means the answer
            // was signed with another secret (a staged rotation) or did not come from our app.
            match (&fields.signature, &fields.id, &fields.issued_at) {
                (Some(sig), Some(id), Some(issued)) if signature_ok(secret, id, issued, sig) => {}
                (Some(_), Some(_), Some(_)) => {
                    anomalies.push("the answer's signature does not match the client secret".into())
                }
                _ => anomalies.push("the answer carries no signature".into()),
            }
        }
        Ok(TokenGrant {
            access_token: SecretString::from(access_token),
            refresh_token,
            id,
            instance_url,
            issued_at_ms,
            scopes: scope
                .map(|s| s.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default(),
            id_token: fields.id_token,
            anomalies,
            accepted_secret: None,
            previous_secret_accepted: false,
        })
    }
}

/// The `nonce` claim of an ID token (a JWT), read from its payload. The token arrives straight
/// from the token endpoint over TLS, which OpenID Connect accepts in place of checking the
/// signature (Core 1.0, section 3.1.3.7); the nonce ties it to this browser's sign-in.
pub fn id_token_nonce(id_token: &str) -> Option<String> {
    let payload = id_token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("nonce")?.as_str().map(str::to_owned)
}

/// Whether `sig` is base64(HMAC-SHA256(secret, id + issued_at)), compared in constant time.
pub fn signature_ok(secret: &SecretString, id: &str, issued_at: &str, sig: &str) -> bool {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes()) else {
        return false;
    };
    mac.update(id.as_bytes());
    mac.update(issued_at.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    expected.as_bytes().ct_eq(sig.as_bytes()).into()
}

fn check_instance_url(s: &str, extra_hosts: &[String]) -> Result<String, SfError> {
    // An instance URL is a bare https origin on a Salesforce host (or a listed test host).
    LoginUrl::parse(s, extra_hosts)
        .map(|u| u.as_str().to_owned())
        .map_err(|e| SfError::Garbage(format!("instance_url: {e}")))
}
