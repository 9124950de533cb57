//! The simulator's configuration: a public, documented TOML shape (`sfsim --config FILE`), a
//! Rust builder, and the default dataset served when no file is given (`dataset`).

mod dataset;

use std::collections::BTreeMap;
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// Everything sfsim serves.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub settings: Settings,
    #[serde(default)]
    pub faults: Faults,
    #[serde(default)]
    pub clients: Vec<ClientConfig>,
    #[serde(default)]
    pub orgs: Vec<OrgConfig>,
}

/// Behaviour switches, including the choices for what the facts leave UNCONFIRMED.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// With `login_hint=USERNAME`, authorize redirects straight back with a code.
    pub auto_approve: bool,
    /// Lifetime of an authorization code (UNCONFIRMED in the facts; 15 minutes).
    #[serde(with = "humantime_serde")]
    pub code_ttl: Duration,
    /// Refuse `code_challenge_method=plain` (UNCONFIRMED whether Salesforce accepts it).
    pub reject_plain_pkce: bool,
    /// Take the client address from `X-Forwarded-For` (tests on loopback simulate egress IPs).
    pub trust_forwarded_for: bool,
    /// Logins (code and refresh exchanges) per user per rolling hour before `login rate exceeded`.
    pub login_rate_per_hour: u32,
    /// How a refresh from outside the IP allowlist is refused (UNCONFIRMED; facts infer this).
    pub ip_refusal: OAuthErrorSpec,
    /// `error_description` when a code bound to a challenge arrives without a verifier
    /// (UNCONFIRMED text).
    pub missing_verifier_description: String,
    /// Refuse an authorize request carrying `nonce` without `openid` among its scopes, as
    /// node-oidc-provider does (`invalid_request`). Salesforce ignores such a `nonce`.
    pub oidc_strict: bool,
    /// Refresh answers carry an `id_token` (without `nonce`) when `openid` was granted
    /// (UNCONFIRMED; the Mobile SDK fetches id tokens with a refresh token).
    pub id_token_on_refresh: bool,
    /// A refresh whose client authentication fails revokes the grant of the presented refresh
    /// token (UNCONFIRMED; default: refused with `invalid_client`, the token stays usable).
    pub bad_secret_revokes_grant: bool,
    /// `LoginHistory.Status` of a refresh refused for its client secret (UNCONFIRMED text).
    pub bad_secret_login_status: String,
    /// Rows per query answer before `nextRecordsUrl` (Salesforce's default batch: 2000).
    pub query_batch_size: usize,
    /// `LoginHistory.CountryIso` for an address no `countries` entry covers.
    pub default_country: String,
    /// Address ranges and their ISO country code for `LoginHistory.CountryIso` (the most specific
    /// range wins).
    pub countries: Vec<CountryRange>,
}

/// One entry of the address → country table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CountryRange {
    pub cidr: IpNet,
    /// ISO 3166 alpha-2 code, e.g. `DE`.
    pub country: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            auto_approve: false,
            code_ttl: Duration::from_secs(15 * 60),
            reject_plain_pkce: true,
            trust_forwarded_for: false,
            login_rate_per_hour: 3600,
            ip_refusal: OAuthErrorSpec {
                status: 400,
                error: "invalid_grant".into(),
                description: "ip restricted".into(),
            },
            missing_verifier_description: "invalid code verifier".into(),
            oidc_strict: false,
            id_token_on_refresh: true,
            bad_secret_revokes_grant: false,
            bad_secret_login_status: "Invalid client credentials".into(),
            query_batch_size: 2000,
            default_country: "US".into(),
            countries: vec![],
        }
    }
}

impl Settings {
    /// The country of an address: the most specific `countries` range, else `default_country`.
    pub fn country_of(&self, ip: std::net::IpAddr) -> &str {
        self.countries
            .iter()
            .filter(|c| c.cidr.contains(&ip))
            .max_by_key(|c| c.cidr.prefix_len())
            .map_or(self.default_country.as_str(), |c| c.country.as_str())
    }
}

/// A configurable OAuth error answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OAuthErrorSpec {
    pub status: u16,
    pub error: String,
    pub description: String,
}

/// Fault injection; all off by default.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Faults {
    /// A fixed delay on every OAuth and REST answer.
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub latency: Option<Duration>,
    /// Extra uniformly random delay up to this much (a latency distribution).
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Duration>,
    /// Share (0–1) of token requests answered 503 without doing anything.
    pub error_rate: f64,
    /// Share (0–1) of token requests that hang without an answer (until the client gives up).
    pub hang_rate: f64,
    /// Share (0–1) of refreshes that rotate the token and then never answer.
    pub drop_after_rotate_rate: f64,
    /// Share (0–1) of token requests refused with `login rate exceeded` before doing anything.
    pub rate_limit_rate: f64,
}

/// How a refresh token ages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshPolicy {
    /// Valid until revoked.
    Infinite,
    /// Expires after this long without an exchange.
    Idle(Duration),
    /// Expires this long after the grant, whatever its use.
    Lifetime(Duration),
}

impl Serialize for RefreshPolicy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&match self {
            Self::Infinite => "infinite".to_owned(),
            Self::Idle(d) => format!("idle {}", humantime::format_duration(*d)),
            Self::Lifetime(d) => format!("lifetime {}", humantime::format_duration(*d)),
        })
    }
}

impl<'de> Deserialize<'de> for RefreshPolicy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let bad = || {
            serde::de::Error::custom(format!(
                "refresh_policy `{s}`: expected `infinite`, `idle DURATION` or `lifetime DURATION`"
            ))
        };
        match s.trim().split_once(' ') {
            None if s.trim() == "infinite" => Ok(Self::Infinite),
            Some(("idle", d)) => humantime::parse_duration(d.trim())
                .map(Self::Idle)
                .map_err(|_| bad()),
            Some(("lifetime", d)) => humantime::parse_duration(d.trim())
                .map(Self::Lifetime)
                .map_err(|_| bad()),
            _ => Err(bad()),
        }
    }
}

/// A connected app / External Client App.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    pub client_id: String,
    /// Absent for a public client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default = "yes")]
    pub pkce_required: bool,
    #[serde(default = "yes")]
    pub rotation: bool,
    #[serde(default = "default_policy")]
    pub refresh_policy: RefreshPolicy,
    /// Require the secret on refresh (confidential clients).
    #[serde(default = "yes")]
    pub secret_required_for_refresh: bool,
    /// Refresh-token IP allowlist; empty = not enforced.
    #[serde(default)]
    pub ip_allowlist: Vec<IpNet>,
    /// Access-token lifetime (the org's session timeout).
    #[serde(default = "default_session", with = "humantime_serde")]
    pub session_timeout: Duration,
    /// Issue a refresh token at all (the `refresh_token` scope is granted).
    #[serde(default = "yes")]
    pub issue_refresh_token: bool,
    /// "Admin approved users are pre-authorized": only these usernames may use the app
    /// (absent = all users may self-authorize).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preauthorized_users: Option<Vec<String>>,
    /// The app's label, as `LoginHistory.Application` and `OauthToken.AppName` show it
    /// (absent = the client id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_label: Option<String>,
    /// During a staged secret rotation, the old secret, still accepted next to `client_secret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_client_secret: Option<String>,
}

impl ClientConfig {
    /// A confidential client with sfsim's defaults (PKCE required, rotation on, `idle 30days`,
    /// secret required for refresh), for builders.
    pub fn new(client_id: &str, client_secret: Option<&str>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.map(str::to_owned),
            redirect_uris: vec![],
            pkce_required: true,
            rotation: true,
            refresh_policy: default_policy(),
            secret_required_for_refresh: client_secret.is_some(),
            ip_allowlist: vec![],
            session_timeout: default_session(),
            issue_refresh_token: true,
            preauthorized_users: None,
            app_label: None,
            previous_client_secret: None,
        }
    }

    /// `app_label`, or the client id when no label is set.
    pub fn label(&self) -> &str {
        self.app_label.as_deref().unwrap_or(&self.client_id)
    }
}

fn yes() -> bool {
    true
}
fn default_policy() -> RefreshPolicy {
    RefreshPolicy::Idle(Duration::from_secs(30 * 86_400))
}
fn default_session() -> Duration {
    Duration::from_secs(2 * 3600)
}

/// Whether a client's app is usable in an org.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum AppInstall {
    #[default]
    Installed,
    Blocked,
    NotInstalled,
}

/// A Salesforce org.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OrgConfig {
    /// 15- or 18-character `00D…` id.
    pub id: String,
    pub name: String,
    /// `production` or `sandbox`.
    #[serde(default = "production")]
    pub environment: String,
    #[serde(default)]
    pub users: Vec<UserConfig>,
    /// A locked, closed or suspended org refuses every token request (`inactive_org`).
    #[serde(default)]
    pub locked: bool,
    /// Per client id; absent = installed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub apps: BTreeMap<String, AppInstall>,
    /// Managed packages installed in the org (the Tooling API's `InstalledSubscriberPackage`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub installed_packages: Vec<InstalledPackage>,
}

/// A managed package installed in an org, as `InstalledSubscriberPackage` reports it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InstalledPackage {
    /// `SubscriberPackageId` (`033…`).
    pub package_id: String,
    /// `SubscriberPackage.Name`.
    pub name: String,
    /// `SubscriberPackage.NamespacePrefix`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_prefix: Option<String>,
    /// `SubscriberPackageVersion.Id` (`04t…`).
    pub version_id: String,
    /// `SubscriberPackageVersion.Name`.
    pub version_name: String,
    pub major: u32,
    pub minor: u32,
    #[serde(default)]
    pub patch: u32,
    #[serde(default)]
    pub build: u32,
}

impl InstalledPackage {
    /// The package the default dataset installs: `Reauth Connector` (namespace `reauth`) 2.0.0.1.
    pub fn reauth_connector() -> Self {
        Self {
            package_id: "033000000000001AAA".into(),
            name: "Reauth Connector".into(),
            namespace_prefix: Some("reauth".into()),
            version_id: "04t000000000001AAA".into(),
            version_name: "Reauth Connector 2.0".into(),
            major: 2,
            minor: 0,
            patch: 0,
            build: 1,
        }
    }
}

fn production() -> String {
    "production".into()
}

/// A user of an org.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// 15- or 18-character `005…` id; generated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub admin: bool,
    #[serde(default)]
    pub frozen: bool,
}

impl UserConfig {
    /// A user with a password of `password` (builder).
    pub fn new(username: &str, admin: bool) -> Self {
        Self {
            id: None,
            username: username.into(),
            password: "password".into(),
            admin,
            frozen: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_dataset_round_trips_through_toml() {
        let c = Config::default_dataset();
        assert_eq!(Config::from_toml_str(&c.to_toml()).unwrap(), c);
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let e = Config::from_toml_str("[[clients]]\nclient_id = \"x\"\nclient_sekret = \"y\"\n")
            .unwrap_err();
        assert!(e.to_string().contains("client_sekret"), "{e}");
    }

    #[test]
    fn policies_parse() {
        let c: ClientConfig =
            toml::from_str("client_id = \"x\"\nrefresh_policy = \"idle 3s\"\n").unwrap();
        assert_eq!(
            c.refresh_policy,
            RefreshPolicy::Idle(Duration::from_secs(3))
        );
        assert!(
            toml::from_str::<ClientConfig>("client_id = \"x\"\nrefresh_policy = \"sometimes\"\n")
                .is_err()
        );
    }
}
