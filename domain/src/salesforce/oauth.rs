//! The web-server flow: PKCE, the authorize URL and the code exchange.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, EndpointNotSet, EndpointSet,
    ExtraTokenFields, HttpRequest, HttpResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, StandardRevocableToken, StandardTokenResponse, TokenResponse, TokenUrl,
};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::identity::IdUrl;
use super::{SfError, transport_error};
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

type SfTokenResponse = StandardTokenResponse<SfFields, BasicTokenType>;
type OAuthClient = oauth2::Client<
    BasicErrorResponse,
    SfTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// A PKCE pair (S256). The verifier is 43 characters of the base64url alphabet: 32 random bytes,
/// inside RFC 7636's 43–128 and free of the `~` Salesforce rejects.
pub struct Pkce {
    pub verifier: SecretString,
    pub challenge: String,
}

impl Pkce {
    /// A fresh pair.
    pub fn generate() -> Self {
        let mut b = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut b);
        let verifier =
            PkceCodeVerifier::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b));
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(&verifier);
        Self {
            challenge: challenge.as_str().to_owned(),
            verifier: SecretString::from(verifier.secret().clone()),
        }
    }
}

/// Everything the authorize redirect carries.
pub struct AuthorizeRequest<'a> {
    pub login: &'a LoginUrl,
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub scopes: &'a [String],
    pub state: &'a str,
    /// Sent only when `scopes` asks for `openid`: OpenID Connect defines `nonce` for ID tokens,
    /// and strict providers refuse it without `openid` (plain OAuth 2.0 servers ignore it).
    pub nonce: &'a str,
    pub code_challenge: &'a str,
    pub login_hint: Option<&'a str>,
}

/// Whether a scope list asks for an OpenID Connect ID token.
pub fn wants_id_token(scopes: &[String]) -> bool {
    scopes.iter().any(|s| s == "openid")
}

/// The URL to send the admin's browser to (`prompt=login consent`, PKCE S256).
pub fn authorize_url(r: &AuthorizeRequest<'_>) -> String {
    let mut url = url::Url::parse(&r.login.join("/services/oauth2/authorize"))
        .unwrap_or_else(|_| unreachable!("LoginUrl is a URL"));
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", r.client_id)
            .append_pair("redirect_uri", r.redirect_uri)
            .append_pair("scope", &r.scopes.join(" "))
            .append_pair("state", r.state)
            .append_pair("prompt", "login consent")
            .append_pair("code_challenge", r.code_challenge)
            .append_pair("code_challenge_method", "S256");
        if wants_id_token(r.scopes) {
            q.append_pair("nonce", r.nonce);
        }
        if let Some(h) = r.login_hint {
            q.append_pair("login_hint", h);
        }
    }
    url.into()
}

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
struct RawAnswer {
    access_token: Option<String>,
    refresh_token: Option<String>,
    scope: Option<String>,
    fields: SfFields,
}

impl RawAnswer {
    /// Reads an answer oauth2 could not parse (a missing `token_type`, a field of an unexpected
    /// type…) from its body, so whatever tokens it carries are kept.
    fn from_body(body: &[u8]) -> Option<Self> {
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

/// Talks to one Salesforce login host as one client.
#[derive(Clone)]
pub struct SfClient {
    pub http: reqwest::Client,
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    /// Hosts accepted for `instance_url` and the identity URL besides Salesforce's.
    pub extra_hosts: Vec<String>,
}

impl SfClient {
    /// The client for the configured External Client App, or `None` without `salesforce.client_id`.
    pub fn from_config(config: &crate::config::Config) -> crate::Result<Option<Self>> {
        let Some(client_id) = config
            .salesforce
            .client_id
            .clone()
            .filter(|c| !c.trim().is_empty())
        else {
            return Ok(None);
        };
        let http = super::build_http_client(config.salesforce.http_timeout)
            .map_err(|e| crate::Error::Invalid(format!("cannot build the HTTP client: {e}")))?;
        Ok(Some(Self {
            http,
            client_id,
            client_secret: config.salesforce.client_secret.clone(),
            extra_hosts: config.salesforce.extra_login_hosts.clone(),
        }))
    }

    fn oauth(&self, login: &LoginUrl, redirect_uri: Option<&str>) -> Result<OAuthClient, SfError> {
        // A bad endpoint URL is our configuration; the request never leaves.
        let bad = |e: url::ParseError| SfError::Transport {
            sent: false,
            detail: format!("bad endpoint URL: {e}"),
        };
        let mut c = oauth2::Client::new(ClientId::new(self.client_id.clone()))
            .set_auth_uri(AuthUrl::new(login.join("/services/oauth2/authorize")).map_err(bad)?)
            .set_token_uri(TokenUrl::new(login.join("/services/oauth2/token")).map_err(bad)?)
            .set_auth_type(AuthType::RequestBody);
        if let Some(s) = &self.client_secret {
            c = c.set_client_secret(ClientSecret::new(s.expose_secret().to_owned()));
        }
        if let Some(r) = redirect_uri {
            c = c.set_redirect_uri(RedirectUrl::new(r.to_owned()).map_err(bad)?);
        }
        Ok(c)
    }

    /// Exchanges an authorization code (with its PKCE verifier) for tokens.
    pub async fn exchange_code(
        &self,
        login: &LoginUrl,
        redirect_uri: &str,
        code: &str,
        verifier: &SecretString,
    ) -> Result<TokenGrant, SfError> {
        let client = self.oauth(login, Some(redirect_uri))?;
        let http = Http(self.http.clone());
        let res = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.expose_secret().to_owned()))
            .request_async(&http)
            .await;
        self.grant(res)
    }

    /// Exchanges a refresh token.
    pub async fn refresh(
        &self,
        login: &LoginUrl,
        refresh_token: &SecretString,
    ) -> Result<TokenGrant, SfError> {
        let client = self.oauth(login, None)?;
        let http = Http(self.http.clone());
        let rt = oauth2::RefreshToken::new(refresh_token.expose_secret().to_owned());
        let res = client
            .exchange_refresh_token(&rt)
            .request_async(&http)
            .await;
        self.grant(res)
    }

    fn grant(
        &self,
        res: Result<SfTokenResponse, RequestTokenError<SendError, BasicErrorResponse>>,
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
        self.check(raw)
    }

    /// Turns an answer's parts into a grant. Only a missing access token makes it unusable, and
    /// even then a refresh token it carries is handed back (`SfError::Salvaged`) to be kept.
    fn check(&self, raw: RawAnswer) -> Result<TokenGrant, SfError> {
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
        if let Some(secret) = &self.client_secret {
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
        })
    }

    /// Revokes a token (refresh or access) at `/services/oauth2/revoke`.
    pub async fn revoke(&self, login: &LoginUrl, token: &SecretString) -> Result<(), SfError> {
        let res = self
            .http
            .post(login.join("/services/oauth2/revoke"))
            .form(&[("token", token.expose_secret())])
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let status = res.status().as_u16();
        if status == 200 {
            return Ok(());
        }
        let body: serde_json::Value = res.json().await.unwrap_or_default();
        Err(SfError::OAuth {
            status,
            error: body["error"].as_str().unwrap_or("unknown").to_owned(),
            description: body["error_description"].as_str().map(str::to_owned),
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

/// A transport error wrapper that satisfies `std::error::Error` for oauth2.
#[derive(Debug)]
pub(crate) struct SendError(pub SfError);

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SendError {}

/// oauth2's HTTP client: our reqwest client, with a boxed `Send` future so callers stay `Send`.
struct Http(reqwest::Client);

impl<'c> oauth2::AsyncHttpClient<'c> for Http {
    type Error = SendError;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<HttpResponse, SendError>> + Send + 'c>,
    >;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(send(&self.0, request))
    }
}

async fn send(http: &reqwest::Client, req: HttpRequest) -> Result<HttpResponse, SendError> {
    let (parts, body) = req.into_parts();
    let resp = http
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .map_err(|e| SendError(transport_error(&e)))?;
    let status = resp.status();
    if status.is_redirection() {
        return Err(SendError(SfError::Garbage(format!(
            "token endpoint answered with a redirect ({status}); not followed"
        ))));
    }
    if status.is_server_error() {
        // A 5xx may have happened after Salesforce acted on the request: ambiguous, not an answer.
        return Err(SendError(SfError::Transport {
            sent: true,
            detail: format!("Salesforce answered {status}"),
        }));
    }
    let mut b = http::Response::builder().status(status);
    for (k, v) in resp.headers() {
        b = b.header(k, v);
    }
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| SendError(transport_error(&e)))?;
    b.body(bytes.to_vec())
        .map_err(|e| SendError(SfError::Garbage(e.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_verifier_is_base64url_of_allowed_length() {
        let p = Pkce::generate();
        let v = p.verifier.expose_secret();
        assert!((43..=128).contains(&v.len()));
        assert!(
            v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(<Sha256 as sha2::Digest>::digest(v.as_bytes()));
        assert_eq!(p.challenge, expected);
    }

    #[test]
    fn signature_matches_salesforce_definition() {
        let secret = SecretString::from("s3cr3t".to_owned());
        let id = "https://login.salesforce.com/id/00D4c0000008cs2EAA/0054c000000etGWAAY";
        let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cr3t").unwrap();
        mac.update(format!("{id}1668791215099").as_bytes());
        let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert!(signature_ok(&secret, id, "1668791215099", &sig));
        assert!(!signature_ok(&secret, id, "1668791215098", &sig));
    }

    #[test]
    fn authorize_url_asks_for_login_and_consent_with_s256() {
        let login = LoginUrl::parse("https://test.salesforce.com", &[]).unwrap();
        let u = authorize_url(&AuthorizeRequest {
            login: &login,
            client_id: "cid",
            redirect_uri: "https://reauth.example/oauth/callback",
            scopes: &["api".into(), "refresh_token".into()],
            state: "st",
            nonce: "n",
            code_challenge: "ch",
            login_hint: None,
        });
        let parsed = url::Url::parse(&u).unwrap();
        assert_eq!(parsed.path(), "/services/oauth2/authorize");
        let q: std::collections::HashMap<_, _> = parsed.query_pairs().into_owned().collect();
        assert_eq!(q["prompt"], "login consent");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["scope"], "api refresh_token");
        assert!(
            !q.contains_key("nonce"),
            "nonce belongs to OpenID Connect: not sent without openid"
        );
    }

    #[test]
    fn authorize_url_sends_the_nonce_only_with_openid() {
        let login = LoginUrl::parse("https://login.salesforce.com", &[]).unwrap();
        let scopes = ["api".to_owned(), "refresh_token".into(), "openid".into()];
        let u = authorize_url(&AuthorizeRequest {
            login: &login,
            client_id: "cid",
            redirect_uri: "https://reauth.example/oauth/callback",
            scopes: &scopes,
            state: "st",
            nonce: "n-123",
            code_challenge: "ch",
            login_hint: None,
        });
        let q: std::collections::HashMap<_, _> = url::Url::parse(&u)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect();
        assert_eq!(q["nonce"], "n-123");
    }

    fn client(secret: Option<&str>) -> SfClient {
        let _already = rustls::crypto::ring::default_provider().install_default();
        SfClient {
            http: reqwest::Client::new(),
            client_id: "cid".into(),
            client_secret: secret.map(|s| SecretString::from(s.to_owned())),
            extra_hosts: vec![],
        }
    }

    fn signed(secret: &str, id: &str, issued: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{id}{issued}").as_bytes());
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }

    const ID: &str = "https://login.salesforce.com/id/00D4c0000008cs2EAA/0054c000000etGWAAY";

    #[test]
    fn a_clean_answer_has_no_anomalies() {
        let g = client(Some("s"))
            .check(RawAnswer {
                access_token: Some("at".into()),
                refresh_token: Some("rt".into()),
                scope: Some("api refresh_token".into()),
                fields: SfFields {
                    instance_url: Some("https://acme.my.salesforce.com".into()),
                    id: Some(ID.into()),
                    issued_at: Some("1668791215099".into()),
                    signature: Some(signed("s", ID, "1668791215099")),
                    id_token: None,
                },
            })
            .unwrap();
        assert!(g.anomalies.is_empty(), "{:?}", g.anomalies);
        assert_eq!(g.scopes, ["api", "refresh_token"]);
        assert!(g.id.is_some() && g.instance_url.is_some());
    }

    #[test]
    fn a_rotated_token_is_kept_whatever_else_looks_wrong() {
        let g = client(Some("s"))
            .check(RawAnswer {
                access_token: Some("at".into()),
                refresh_token: Some("rt-new".into()),
                scope: None,
                fields: SfFields {
                    instance_url: Some("https://acme.my.salesforce-new.example".into()),
                    id: Some(
                        "https://login.unknown.example/id/00D4c0000008cs2EAA/0054c000000etGWAAY"
                            .into(),
                    ),
                    issued_at: Some("yesterday".into()),
                    signature: Some("bm90IGl0".into()),
                    id_token: None,
                },
            })
            .unwrap();
        assert_eq!(g.refresh_token.unwrap().expose_secret(), "rt-new");
        assert!(g.id.is_none() && g.instance_url.is_none());
        assert_eq!(g.anomalies.len(), 4, "{:?}", g.anomalies);
    }

    #[test]
    fn an_answer_without_an_access_token_still_hands_back_its_refresh_token() {
        let raw = RawAnswer::from_body(br#"{"refresh_token":"rt-new","issued_at":1668791215099}"#)
            .unwrap();
        match client(None).check(raw) {
            Err(SfError::Salvaged { refresh_token, .. }) => {
                assert_eq!(refresh_token.expose_secret(), "rt-new")
            }
            other => panic!("{other:?}"),
        }
        assert!(RawAnswer::from_body(b"<html>").is_none());
    }

    #[test]
    fn the_nonce_is_read_from_an_id_token() {
        let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let jwt = format!(
            "{}.{}.sig",
            enc(r#"{"alg":"HS256"}"#),
            enc(r#"{"sub":"x","nonce":"n-1"}"#)
        );
        assert_eq!(id_token_nonce(&jwt).as_deref(), Some("n-1"));
        assert_eq!(id_token_nonce("garbage"), None);
    }
}
