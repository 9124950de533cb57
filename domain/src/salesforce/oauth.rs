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

/// Salesforce's extra token-response fields.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct SfFields {
    pub instance_url: String,
    pub id: String,
    pub issued_at: Option<String>,
    pub signature: Option<String>,
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
    pub nonce: &'a str,
    pub code_challenge: &'a str,
    pub login_hint: Option<&'a str>,
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
            .append_pair("nonce", r.nonce)
            .append_pair("prompt", "login consent")
            .append_pair("code_challenge", r.code_challenge)
            .append_pair("code_challenge_method", "S256");
        if let Some(h) = r.login_hint {
            q.append_pair("login_hint", h);
        }
    }
    url.into()
}

/// A successful token answer, checked.
pub struct TokenGrant {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub instance_url: String,
    pub id: IdUrl,
    pub issued_at_ms: Option<i64>,
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for TokenGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenGrant")
            .field("instance_url", &self.instance_url)
            .field("id", &self.id)
            .field("has_refresh_token", &self.refresh_token.is_some())
            .finish_non_exhaustive()
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
        let bad = |e: url::ParseError| SfError::Garbage(format!("bad endpoint URL: {e}"));
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
        let t = match res {
            Ok(t) => t,
            Err(RequestTokenError::ServerResponse(e)) => {
                return Err(SfError::OAuth {
                    status: 400,
                    error: e.error().as_ref().to_owned(),
                    description: e.error_description().cloned(),
                });
            }
            Err(RequestTokenError::Request(SendError(e))) => return Err(e),
            Err(RequestTokenError::Parse(e, _body)) => {
                return Err(SfError::Garbage(format!("token answer is not valid: {e}")));
            }
            Err(RequestTokenError::Other(e)) => return Err(SfError::Garbage(e)),
        };
        let extra = t.extra_fields();
        let id = IdUrl::parse(&extra.id, &self.extra_hosts)?;
        let instance_url = check_instance_url(&extra.instance_url, &self.extra_hosts)?;
        let issued_at_ms = match &extra.issued_at {
            Some(s) => Some(s.parse::<i64>().map_err(|_| {
                SfError::Garbage("issued_at is not a millisecond timestamp".into())
            })?),
            None => None,
        };
        if let Some(secret) = &self.client_secret {
            // Salesforce signs id + issued_at with the client secret; a mismatch means the answer
            // did not come from the app we configured.
            let (Some(sig), Some(issued)) = (&extra.signature, &extra.issued_at) else {
                return Err(SfError::Garbage("the answer carries no signature".into()));
            };
            if !signature_ok(secret, &extra.id, issued, sig) {
                return Err(SfError::Garbage(
                    "the answer's signature does not match the client secret".into(),
                ));
            }
        }
        Ok(TokenGrant {
            access_token: SecretString::from(t.access_token().secret().clone()),
            refresh_token: t
                .refresh_token()
                .map(|r| SecretString::from(r.secret().clone())),
            instance_url,
            id,
            issued_at_ms,
            scopes: t
                .scopes()
                .map(|s| s.iter().map(|x| x.to_string()).collect())
                .unwrap_or_default(),
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
    }
}
