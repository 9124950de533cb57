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

// The file's sections, one module each (the rest below).
mod campaign;
mod date;
mod heartbeat;
mod partner;
mod salesforce;

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

pub use campaign::{CampaignConfig, LinksConfig, MailConfig};
use date::toml_date_opt;
pub use heartbeat::HeartbeatConfig;
pub use partner::{PartnerConfig, UpcomingRange};
pub use salesforce::{LegacyConfig, SalesforceConfig};

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
