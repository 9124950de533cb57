//! Configuration: one TOML file, overridden by `REAUTH_…` environment variables, validated once
//! at start-up into typed values.
//!
//! Only what a command needs is required: `migrate`, `orgs …` and `serve` start without any file;
//! flows that need `[salesforce]` or `[crypto]` ask for those keys through the `require_*`
//! accessors, whose errors name the missing key.

mod api;
mod duration;
mod incident;
mod load;
mod proxy;
mod redact;
#[cfg(test)]
mod tests;
mod unknown;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

pub use api::ApiConfig;
pub use duration::format_duration;
pub use incident::IncidentConfig;
pub use load::{ConfigError, KeyProblem, LoadOptions, load};
pub use proxy::{ProxyUrl, ProxyUrlError};
pub use redact::hide_password as redact_url;

use crate::types::{LoginUrl, LoginUrlError};

/// The whole effective configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Public URL, used in links and as the OAuth callback base.
    pub base_url: Url,
    /// Address `reauth serve` listens on.
    pub bind: SocketAddr,
    /// `sqlite://…` or `postgres://…`.
    #[serde(serialize_with = "redact::database_url")]
    pub database_url: String,
    /// Reverse proxies (addresses or CIDR ranges) whose `X-Forwarded-For` names the client;
    /// staff sign-in is rate-limited per client address. Empty: the connection's address.
    pub trusted_proxies: Vec<IpNet>,
    pub salesforce: SalesforceConfig,
    /// The partner's legacy Connected App, while orgs still use it.
    pub legacy: LegacyConfig,
    pub partner: PartnerConfig,
    pub links: LinksConfig,
    pub heartbeat: HeartbeatConfig,
    pub campaign: CampaignConfig,
    pub mail: MailConfig,
    pub crypto: CryptoConfig,
    pub alerts: AlertsConfig,
    pub monitor: MonitorConfig,
    pub incident: IncidentConfig,
    pub api: ApiConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            base_url: Url::parse("http://127.0.0.1:8080")
                .unwrap_or_else(|_| unreachable!("literal URL")),
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: "sqlite://reauth.db?mode=rwc".into(),
            trusted_proxies: Vec::new(),
            salesforce: SalesforceConfig::default(),
            legacy: LegacyConfig::default(),
            partner: PartnerConfig::default(),
            links: LinksConfig::default(),
            heartbeat: HeartbeatConfig::default(),
            campaign: CampaignConfig::default(),
            mail: MailConfig::default(),
            crypto: CryptoConfig::default(),
            alerts: AlertsConfig::default(),
            monitor: MonitorConfig::default(),
            incident: IncidentConfig::default(),
            api: ApiConfig::default(),
        }
    }
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
        Self {
            client_id: None,
            client_secret: None,
            client_secret_file: None,
            client_secrets: Vec::new(),
            client_secrets_file: None,
            secret_rotated_at: None,
            rotate_every: Duration::from_secs(90 * 86_400),
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
        if self.client_secrets.is_empty() {
            self.client_secret.iter().cloned().collect()
        } else {
            self.client_secrets.clone()
        }
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
        Self {
            client_id: None,
            client_secret: None,
            client_secret_file: None,
            client_secrets: Vec::new(),
            client_secrets_file: None,
            secret_rotated_at: None,
            rotate_every: Duration::from_secs(90 * 86_400),
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
        if self.client_secrets.is_empty() {
            self.client_secret.iter().cloned().collect()
        } else {
            self.client_secrets.clone()
        }
    }
}

/// `[partner]`: who the customer admins are dealing with.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PartnerConfig {
    pub name: String,
    pub logo_url: String,
    pub support_email: String,
    /// reauth's static egress (CIDR), published at `/ip-ranges`: the partner puts them on the
    /// External Client App's refresh-token IP allowlist (`reauth ip-ranges allowlist`); a
    /// customer whose integration user has profile Login IP Ranges adds them there.
    pub egress_ranges: Vec<IpNet>,
    /// Ranges reauth will use from a date on: published (and on the allowlist) before they are
    /// used, announced to every org's admin `ip_change_notice` ahead.
    pub upcoming_egress_ranges: Vec<UpcomingRange>,
    /// How long before an upcoming range's `from` its `ip_change` notice goes out.
    #[serde(with = "duration")]
    pub ip_change_notice: Duration,
}

/// `{ cidr = "198.51.100.0/28", from = 2027-01-15 }`: a range reauth uses from that day (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UpcomingRange {
    pub cidr: IpNet,
    #[serde(deserialize_with = "toml_date")]
    pub from: chrono::NaiveDate,
}

/// A TOML date (`2027-01-15`) or the same as a string.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawDate {
    Text(String),
    Toml(toml::value::Datetime),
    Map(BTreeMap<String, String>),
}

impl RawDate {
    fn parse<E: serde::de::Error>(self) -> Result<chrono::NaiveDate, E> {
        let text = match self {
            Self::Text(s) => s,
            Self::Toml(t) => t.to_string(),
            // figment hands TOML datetimes on as a one-entry map.
            Self::Map(m) => m.into_values().next().unwrap_or_default(),
        };
        text.trim()
            .parse()
            .map_err(|_| E::custom(format!("`{text}` is not a date such as 2027-01-15")))
    }
}

fn toml_date<'de, D: serde::Deserializer<'de>>(d: D) -> Result<chrono::NaiveDate, D::Error> {
    RawDate::deserialize(d)?.parse()
}

/// An optional [`toml_date`].
fn toml_date_opt<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<chrono::NaiveDate>, D::Error> {
    Option::<RawDate>::deserialize(d)?
        .map(RawDate::parse)
        .transpose()
}

impl Default for PartnerConfig {
    fn default() -> Self {
        Self {
            name: "Example Integrations".into(),
            logo_url: String::new(),
            support_email: "support@example.com".into(),
            egress_ranges: Vec::new(),
            upcoming_egress_ranges: Vec::new(),
            ip_change_notice: Duration::from_secs(14 * 86_400),
        }
    }
}

/// `[links]`: re-auth links.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinksConfig {
    #[serde(with = "duration")]
    pub ttl: Duration,
}

impl Default for LinksConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(14 * 86_400),
        }
    }
}

/// `[heartbeat]`: keeping refresh tokens from idling out.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeartbeatConfig {
    /// Most time allowed between two refresh-token exchanges.
    #[serde(with = "duration")]
    pub interval: Duration,
    /// Salesforce's idle policy, for "days until idle expiry".
    #[serde(with = "duration")]
    pub idle_timeout: Duration,
    #[serde(with = "duration")]
    pub sweep_every: Duration,
    /// Refreshes in flight at once, overall.
    pub concurrency: usize,
    /// Refreshes in flight at once against one Salesforce instance.
    pub per_instance: usize,
    /// Forced refreshes closer than this to the last exchange are debounced.
    #[serde(with = "duration")]
    pub min_gap: Duration,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(25 * 86_400),
            idle_timeout: Duration::from_secs(30 * 86_400),
            sweep_every: Duration::from_secs(600),
            concurrency: 16,
            per_instance: 4,
            min_gap: Duration::from_secs(10),
        }
    }
}

/// `[campaign]`: the notice scheduler.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CampaignConfig {
    #[serde(with = "duration")]
    pub tick: Duration,
    /// e.g. `20:00-08:00` in each contact's time zone; empty = off.
    pub quiet_hours: String,
}

impl Default for CampaignConfig {
    fn default() -> Self {
        Self {
            tick: Duration::from_secs(60),
            quiet_hours: String::new(),
        }
    }
}

/// `[mail]`: how notices leave.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// `log` | `file:///dir` | `smtp://host:port` | `smtps://user:pass@host:port`.
    #[serde(serialize_with = "redact::url_password")]
    pub transport: String,
    pub from: String,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            transport: "log".into(),
            from: "Integrations <noreply@example.com>".into(),
        }
    }
}

/// `[alerts]`: who hears about an alert, and how.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Addresses mailed each alert (through `[mail]`).
    pub email: Vec<String>,
    /// Receives each alert as JSON with a `text` field (a Slack or Teams incoming webhook works)
    /// plus structured fields.
    #[serde(serialize_with = "redact::url_opt")]
    pub webhook_url: Option<Url>,
    /// Signs each webhook body: `X-Reauth-Signature: sha256=HEX(HMAC-SHA256(secret,
    /// "{X-Reauth-Timestamp}.{body}"))`.
    #[serde(serialize_with = "redact::secret_opt")]
    pub webhook_secret: Option<SecretString>,
    /// Alerts below this severity are shown on the dashboard but not sent.
    pub min_severity: crate::alerts::Severity,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            email: Vec::new(),
            webhook_url: None,
            webhook_secret: None,
            min_severity: crate::alerts::Severity::Warning,
        }
    }
}

/// `[monitor]`: the token-use monitor, which reads each connection's LoginHistory.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorConfig {
    /// `false`: no LoginHistory is read (nothing is then watched: the dashboard says so).
    pub enabled: bool,
    /// How often each connection's LoginHistory is read.
    #[serde(with = "duration")]
    pub every: Duration,
    /// Connections checked at once, overall.
    pub concurrency: usize,
    /// Connections checked at once against one Salesforce instance.
    pub per_instance: usize,
    /// `usage.unusual`: an hour this many times its trailing 7-day median for that hour…
    pub volume_factor: f64,
    /// …and at least this many token answers and exchanges (quiet orgs do not alert on noise).
    pub volume_floor: i64,
    /// How far apart an exchange's time and its LoginHistory row's LoginTime may be.
    #[serde(with = "duration")]
    pub match_window: Duration,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            every: Duration::from_secs(15 * 60),
            concurrency: 16,
            per_instance: 4,
            volume_factor: 5.0,
            volume_floor: 20,
            match_window: Duration::from_secs(120),
        }
    }
}

/// `[crypto]`: keys that seal tokens at rest.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CryptoConfig {
    /// `id:BASE64_32_BYTES`, newest last.
    #[serde(serialize_with = "redact::secret_list")]
    pub keys: Vec<SecretString>,
    /// A file with one `id:BASE64` key per line, newest last.
    pub key_file: Option<PathBuf>,
    /// When the newest key was put in place (`2026-11-01`), for the rotation policy.
    #[serde(default, deserialize_with = "toml_date_opt")]
    pub key_rotated_at: Option<chrono::NaiveDate>,
    /// How often a new encryption key should be introduced (and `reauth keys rotate` run).
    #[serde(with = "duration")]
    pub rotate_every: Duration,
}

impl Default for CryptoConfig {
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            key_file: None,
            key_rotated_at: None,
            rotate_every: Duration::from_secs(365 * 86_400),
        }
    }
}

impl CryptoConfig {
    /// The configured keys as `(id, 32 bytes)`, newest last, or an error naming `crypto.keys`.
    pub fn require_keys(&self) -> Result<Vec<(String, [u8; 32])>, ConfigError> {
        if self.keys.is_empty() {
            return Err(ConfigError::missing(
                "crypto.keys",
                "at least one `id:BASE64_32_BYTES` key to encrypt tokens at rest (or crypto.key_file)",
            ));
        }
        self.keys
            .iter()
            .map(|k| parse_key(k.expose_secret()))
            .collect()
    }
}

/// Parses one `id:BASE64_32_BYTES` key.
pub(crate) fn parse_key(s: &str) -> Result<(String, [u8; 32]), ConfigError> {
    use base64::Engine as _;
    let (id, b64) = s
        .trim()
        .split_once(':')
        .ok_or_else(|| ConfigError::invalid("crypto.keys", "each key is `id:BASE64_32_BYTES`"))?;
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ConfigError::invalid(
            "crypto.keys",
            "a key id is letters, digits, `-` or `_`",
        ));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| {
            ConfigError::invalid("crypto.keys", format!("key `{id}` is not valid base64"))
        })?;
    let key: [u8; 32] = bytes.try_into().map_err(|_| {
        ConfigError::invalid(
            "crypto.keys",
            format!("key `{id}` must decode to exactly 32 bytes"),
        )
    })?;
    Ok((id.to_owned(), key))
}

impl Config {
    /// Every key this configuration accepts, as dotted paths: the list the environment
    /// overrides are checked against.
    pub fn known_keys() -> Vec<String> {
        let value = toml::Value::try_from(Self::example())
            .unwrap_or_else(|_| unreachable!("config serialises"));
        let mut out = Vec::new();
        flatten_keys("", &value, &mut out);
        out
    }

    /// The keys a configuration file may hold, section by section.
    fn schema() -> unknown::Schema {
        let example = toml::Table::try_from(Self::example())
            .unwrap_or_else(|_| unreachable!("config serialises"));
        unknown::Schema::of(&example)
    }

    /// A configuration with every optional key set, used to enumerate keys.
    fn example() -> Self {
        let mut c = Self::default();
        c.salesforce.client_id = Some(String::new());
        c.salesforce.client_secret = Some(SecretString::from(String::new()));
        c.salesforce.client_secret_file = Some(PathBuf::new());
        c.salesforce.client_secrets_file = Some(PathBuf::new());
        c.salesforce.secret_rotated_at = chrono::NaiveDate::from_ymd_opt(2026, 1, 1);
        c.legacy.client_id = Some(String::new());
        c.legacy.client_secret = Some(SecretString::from(String::new()));
        c.legacy.client_secret_file = Some(PathBuf::new());
        c.legacy.client_secrets_file = Some(PathBuf::new());
        c.legacy.secret_rotated_at = chrono::NaiveDate::from_ymd_opt(2026, 1, 1);
        c.legacy.package_id = Some(String::new());
        c.legacy.package_min_version = Some(String::new());
        c.legacy.install_url = Some(String::new());
        c.crypto.key_file = Some(PathBuf::new());
        c.crypto.key_rotated_at = chrono::NaiveDate::from_ymd_opt(2026, 1, 1);
        c.salesforce.proxy = ProxyUrl::parse("http://proxy.example:3128").ok();
        c.salesforce.egress_check_url = Url::parse("https://ip.example/").ok();
        c.alerts.webhook_url = Url::parse("https://hooks.example.com/x").ok();
        c.alerts.webhook_secret = Some(SecretString::from(String::new()));
        c
    }

    /// The effective configuration as TOML with every secret replaced by `[redacted]`.
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string_pretty(self)
            .unwrap_or_else(|e| format!("# could not render the configuration: {e}\n"))
    }
}

fn flatten_keys(prefix: &str, v: &toml::Value, out: &mut Vec<String>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                if matches!(v, toml::Value::Table(_)) {
                    flatten_keys(&key, v, out);
                } else {
                    out.push(key);
                }
            }
        }
        _ => out.push(prefix.to_owned()),
    }
}

/// Environment variables as `(name, value)` pairs; tests pass their own instead of the process's.
pub type EnvVars = BTreeMap<String, String>;
