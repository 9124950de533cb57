//! `[salesforce]` and `[legacy]`: the two Salesforce apps reauth signs in with (the packaged
//! External Client App, and the partner's legacy Connected App while orgs still use it).

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;

use super::date::toml_date_opt;
use super::{ConfigError, ProxyUrl, duration, redact};
use crate::types::{LoginUrl, LoginUrlError};

/// How often an app's client secret should be rotated, unless configured.
const SECRET_ROTATION: Duration = Duration::from_secs(90 * 86_400);

/// The client secrets of one app in use, newest last: the staged rotation's list
/// (`client_secrets`) if there is one, else the one `client_secret`.
fn secrets_in_use(one: Option<&SecretString>, many: &[SecretString]) -> Vec<SecretString> {
    if many.is_empty() {
        one.into_iter().cloned().collect()
    } else {
        many.to_vec()
    }
}

/// An app section's defaults (`Self { .. }` of `[salesforce]` or `[legacy]`): no credentials, a
/// secret rotated every [`SECRET_ROTATION`], then the section's own fields as given.
macro_rules! app_section {
    ($($field:ident: $value:expr),* $(,)?) => {
        Self {
            client_id: None,
            client_secret: None,
            client_secret_file: None,
            client_secrets: Vec::new(),
            client_secrets_file: None,
            secret_rotated_at: None,
            rotate_every: SECRET_ROTATION,
            $($field: $value),*
        }
    };
}

/// `[salesforce]`: the packaged External Client App and where to log in.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SalesforceConfig {
    pub client_id: Option<String>,
    #[serde(serialize_with = "redact::secret_opt")]
    pub client_secret: Option<SecretString>,
    /// A file whose contents (trimmed) are the client secret.
    pub client_secret_file: Option<PathBuf>,
    /// Several secrets during a staged rotation, newest last (like `crypto.keys`): the newest is
    /// used; the one before it is tried once when Salesforce answers `invalid_client`.
    #[serde(serialize_with = "redact::secret_list")]
    pub client_secrets: Vec<SecretString>,
    /// A file with one secret per line, newest last.
    pub client_secrets_file: Option<PathBuf>,
    /// When the newest secret was put in place (`2026-11-01`), for the rotation policy.
    #[serde(default, deserialize_with = "toml_date_opt")]
    pub secret_rotated_at: Option<chrono::NaiveDate>,
    /// How often the client secret should be rotated.
    #[serde(with = "duration")]
    pub rotate_every: Duration,
    pub login_url: String,
    pub sandbox_login_url: String,
    pub scopes: Vec<String>,
    pub api_version: String,
    /// Access tokens carry no expiry; this is the org's session policy.
    #[serde(with = "duration")]
    pub session_timeout: Duration,
    /// `host[:port]` entries accepted as login hosts besides Salesforce's domains.
    pub extra_login_hosts: Vec<String>,
    /// Time limit for one call to Salesforce.
    #[serde(with = "duration")]
    pub http_timeout: Duration,
    /// `http://[user:pass@]host:port` or `https://…`: every call to Salesforce (token, revoke,
    /// identity, query) goes through this forward proxy, so reauth's egress is its static IP.
    pub proxy: Option<ProxyUrl>,
    /// Hosts (`example.com` also covers its subdomains), addresses and CIDR ranges reached
    /// without the proxy, as in `NO_PROXY`.
    pub no_proxy: Vec<String>,
    /// A URL answering the caller's address (`{"ip": "…"}` or the bare address), which
    /// `reauth egress check` calls through the proxy.
    pub egress_check_url: Option<Url>,
}

impl Default for SalesforceConfig {
    fn default() -> Self {
        app_section! {
            login_url: "https://login.salesforce.com".into(),
            sandbox_login_url: "https://test.salesforce.com".into(),
            scopes: vec!["api".into(), "refresh_token".into()],
            api_version: "66.0".into(),
            session_timeout: Duration::from_secs(2 * 3600),
            extra_login_hosts: Vec::new(),
            http_timeout: Duration::from_secs(20),
            proxy: None,
            no_proxy: Vec::new(),
            egress_check_url: None,
        }
    }
}

impl SalesforceConfig {
    /// The client secrets in use, newest last (`client_secrets`, or the one `client_secret`).
    pub fn secrets(&self) -> Vec<SecretString> {
        secrets_in_use(self.client_secret.as_ref(), &self.client_secrets)
    }

    /// The consumer key, or an error naming `salesforce.client_id`.
    pub fn require_client_id(&self) -> Result<&str, ConfigError> {
        self.client_id
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| {
                ConfigError::missing(
                    "salesforce.client_id",
                    "the consumer key of the packaged External Client App",
                )
            })
    }

    /// The default production login host.
    pub fn production_login(&self) -> Result<LoginUrl, LoginUrlError> {
        LoginUrl::parse(&self.login_url, &self.extra_login_hosts)
    }

    /// The default sandbox login host.
    pub fn sandbox_login(&self) -> Result<LoginUrl, LoginUrlError> {
        LoginUrl::parse(&self.sandbox_login_url, &self.extra_login_hosts)
    }
}

/// `[legacy]`: the partner's legacy Connected App, whose tokens reauth takes over until each org
/// has moved to the packaged External Client App.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LegacyConfig {
    /// The legacy app's consumer key; unset: there is no legacy app.
    pub client_id: Option<String>,
    #[serde(serialize_with = "redact::secret_opt")]
    pub client_secret: Option<SecretString>,
    pub client_secret_file: Option<PathBuf>,
    /// Several secrets during a staged rotation, newest last.
    #[serde(serialize_with = "redact::secret_list")]
    pub client_secrets: Vec<SecretString>,
    pub client_secrets_file: Option<PathBuf>,
    #[serde(default, deserialize_with = "toml_date_opt")]
    pub secret_rotated_at: Option<chrono::NaiveDate>,
    #[serde(with = "duration")]
    pub rotate_every: Duration,
    /// How long a verified External Client App connection must keep refreshing before the
    /// legacy grant is revoked.
    #[serde(with = "duration")]
    pub retire_after: Duration,
    /// Whether the heartbeat keeps activated legacy connections alive.
    pub keep_alive: bool,
    /// How often the worker looks for legacy connections to retire and revocations to retry.
    #[serde(with = "duration")]
    pub check_every: Duration,
    /// Pre-flight: the managed package (`033…`) that contains the External Client App, the
    /// lowest version of it that does (`1.4`), and where a customer admin installs it. With
    /// `package_id` set, before an org's wave sends its first notice reauth asks the org, with its
    /// activated legacy connection, whether that version is installed; an org without it gets an
    /// "install the package first" notice instead of a re-auth link.
    pub package_id: Option<String>,
    pub package_min_version: Option<String>,
    pub install_url: Option<String>,
}

impl Default for LegacyConfig {
    fn default() -> Self {
        app_section! {
            retire_after: Duration::from_secs(7 * 86_400),
            keep_alive: true,
            check_every: Duration::from_secs(300),
            package_id: None,
            package_min_version: None,
            install_url: None,
        }
    }
}

impl LegacyConfig {
    /// The legacy app's consumer key, if there is a legacy app.
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref().filter(|s| !s.trim().is_empty())
    }

    /// The client secrets in use, newest last.
    pub fn secrets(&self) -> Vec<SecretString> {
        secrets_in_use(self.client_secret.as_ref(), &self.client_secrets)
    }
}
