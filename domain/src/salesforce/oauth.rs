//! The web-server flow: PKCE, the authorize URL, the code and refresh-token exchanges (through
//! the `oauth2` crate, on our reqwest client that follows no redirect), and revocation.

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, EndpointNotSet, EndpointSet,
    HttpRequest, HttpResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    StandardRevocableToken, StandardTokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};

use super::answer::{SfFields, TokenGrant};
use super::{SfError, transport_error};
use crate::types::LoginUrl;

pub(super) type SfTokenResponse = StandardTokenResponse<SfFields, BasicTokenType>;
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
        let verifier = PkceCodeVerifier::new(crate::security::crypto::random_token());
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

/// Talks to Salesforce as one client (one app).
#[derive(Clone)]
pub struct SfClient {
    pub http: reqwest::Client,
    pub client_id: String,
    /// The client secrets, newest last; empty for a public client (PKCE only). The newest is
    /// presented; on `invalid_client` the one before it is tried once (a staged rotation).
    pub secrets: Vec<SecretString>,
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
        let http = super::salesforce_http_client(&config.salesforce)?;
        Ok(Some(Self {
            http,
            client_id,
            secrets: config.salesforce.secrets(),
            extra_hosts: config.salesforce.extra_login_hosts.clone(),
        }))
    }

    /// The client for the legacy Connected App, or `None` without `legacy.client_id`. It talks
    /// to the same login hosts as the External Client App.
    pub fn legacy_from_config(config: &crate::config::Config) -> crate::Result<Option<Self>> {
        let Some(client_id) = config.legacy.client_id() else {
            return Ok(None);
        };
        let http = super::salesforce_http_client(&config.salesforce)?;
        Ok(Some(Self {
            http,
            client_id: client_id.to_owned(),
            secrets: config.legacy.secrets(),
            extra_hosts: config.salesforce.extra_login_hosts.clone(),
        }))
    }

    /// A short, non-secret name of a secret (for "which secret did Salesforce accept").
    pub fn fingerprint(secret: &SecretString) -> String {
        crate::security::crypto::sha256_hex(secret.expose_secret().as_bytes())[..8].to_owned()
    }

    /// The secret to present first, and the one to fall back to on `invalid_client`.
    fn candidates(&self) -> [Option<&SecretString>; 2] {
        let n = self.secrets.len();
        [
            self.secrets.last(),
            n.checked_sub(2).and_then(|i| self.secrets.get(i)),
        ]
    }

    fn oauth(
        &self,
        login: &LoginUrl,
        redirect_uri: Option<&str>,
        secret: Option<&SecretString>,
    ) -> Result<OAuthClient, SfError> {
        // A bad endpoint URL is our configuration; the request never leaves.
        let bad = |e: url::ParseError| SfError::Transport {
            sent: false,
            detail: format!("bad endpoint URL: {e}"),
        };
        let mut c = oauth2::Client::new(ClientId::new(self.client_id.clone()))
            .set_auth_uri(AuthUrl::new(login.join("/services/oauth2/authorize")).map_err(bad)?)
            .set_token_uri(TokenUrl::new(login.join("/services/oauth2/token")).map_err(bad)?)
            .set_auth_type(AuthType::RequestBody);
        if let Some(s) = secret {
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
        self.with_secrets(|secret| async move {
            let client = self.oauth(login, Some(redirect_uri), secret)?;
            let http = Http(self.http.clone());
            let res = client
                .exchange_code(AuthorizationCode::new(code.to_owned()))
                .set_pkce_verifier(PkceCodeVerifier::new(verifier.expose_secret().to_owned()))
                .request_async(&http)
                .await;
            self.grant(res, secret)
        })
        .await
    }

    /// Runs a token request with the newest secret, and once more with the previous one if
    /// Salesforce refuses the client (`invalid_client`, which consumes no token). The grant says
    /// which secret was accepted.
    async fn with_secrets<'a, F, Fut>(&'a self, call: F) -> Result<TokenGrant, SfError>
    where
        F: Fn(Option<&'a SecretString>) -> Fut,
        Fut: std::future::Future<Output = Result<TokenGrant, SfError>>,
    {
        let [newest, previous] = self.candidates();
        let first = call(newest).await;
        let answer = match (&first, previous) {
            (Err(SfError::OAuth { error, .. }), Some(prev)) if error == "invalid_client" => {
                call(Some(prev)).await.map(|g| (g, Some(prev), true))
            }
            _ => first.map(|g| (g, newest, false)),
        };
        answer.map(|(mut g, used, fell_back)| {
            g.accepted_secret = used.map(Self::fingerprint);
            g.previous_secret_accepted = fell_back;
            g
        })
    }

    /// Exchanges a refresh token.
    pub async fn refresh(
        &self,
        login: &LoginUrl,
        refresh_token: &SecretString,
    ) -> Result<TokenGrant, SfError> {
        self.with_secrets(|secret| async move {
            let client = self.oauth(login, None, secret)?;
            let http = Http(self.http.clone());
            let rt = oauth2::RefreshToken::new(refresh_token.expose_secret().to_owned());
            let res = client
                .exchange_refresh_token(&rt)
                .request_async(&http)
                .await;
            self.grant(res, secret)
        })
        .await
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
mod tests;
