//! "How secrets are secured", generated from the running configuration: which keys seal what,
//! how the apps authenticate, where calls to Salesforce leave from. Nothing secret is copied:
//! keys by id, client secrets by fingerprint, URLs without credentials.

use sea_orm::DatabaseBackend;
use serde::Serialize;

use crate::config::Config;
use crate::entity::connection::ConnectionApp;
use crate::salesforce::SfClient;

/// One app's client authentication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppSecrets {
    pub app: ConnectionApp,
    pub client_id_set: bool,
    /// No client secret: a public client (PKCE only).
    pub public_client: bool,
    /// The configured secrets' fingerprints (first 8 hex digits of the SHA-256), newest last.
    pub fingerprints: Vec<String>,
    /// Whether they are read from a file (`client_secret_file` / `client_secrets_file`) rather
    /// than the configuration or the environment.
    pub from_file: bool,
}

/// The running configuration's answer to "how are secrets secured".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Secured {
    /// The encryption at rest (`crypto.keys`).
    pub cipher: &'static str,
    /// Configured key ids, newest last (the newest seals, every one opens).
    pub key_ids: Vec<String>,
    pub keys_from_file: bool,
    pub apps: Vec<AppSecrets>,
    /// `PostgreSQL` or `SQLite`.
    pub database: &'static str,
    /// `salesforce.proxy` without its credentials.
    pub proxy: Option<String>,
    pub egress_ranges: Vec<String>,
    pub base_url_https: bool,
    pub webhook: bool,
    pub webhook_signed: bool,
    /// `[mail] transport`'s scheme (`smtps`, `smtp+starttls`, `file`, `log`…).
    pub mail_transport: String,
}

/// Reads [`Secured`] from `config`.
pub(super) fn from_config(config: &Config, backend: DatabaseBackend) -> Secured {
    use secrecy::ExposeSecret as _;
    let key_ids = config
        .crypto
        .keys
        .iter()
        .filter_map(|k| crate::config::parse_key(k.expose_secret()).ok())
        .map(|(id, _)| id)
        .collect();
    let mut apps = vec![AppSecrets {
        app: ConnectionApp::Eca,
        client_id_set: config.salesforce.client_id.is_some(),
        public_client: config.salesforce.secrets().is_empty(),
        fingerprints: config
            .salesforce
            .secrets()
            .iter()
            .map(SfClient::fingerprint)
            .collect(),
        from_file: config.salesforce.client_secret_file.is_some()
            || config.salesforce.client_secrets_file.is_some(),
    }];
    if config.legacy.client_id().is_some() {
        apps.push(AppSecrets {
            app: ConnectionApp::Legacy,
            client_id_set: true,
            public_client: config.legacy.secrets().is_empty(),
            fingerprints: config
                .legacy
                .secrets()
                .iter()
                .map(SfClient::fingerprint)
                .collect(),
            from_file: config.legacy.client_secret_file.is_some()
                || config.legacy.client_secrets_file.is_some(),
        });
    }
    let transport = &config.mail.transport;
    Secured {
        cipher: "AES-256-GCM",
        key_ids,
        keys_from_file: config.crypto.key_file.is_some(),
        apps,
        database: match backend {
            DatabaseBackend::Postgres => "PostgreSQL",
            _ => "SQLite",
        },
        proxy: config.salesforce.proxy.as_ref().map(|p| {
            let u = p.expose();
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}://{}{port}", u.scheme(), u.host_str().unwrap_or(""))
        }),
        egress_ranges: config.partner.egress_range_texts(),
        base_url_https: config.base_url.scheme() == "https",
        webhook: config.alerts.webhook_url.is_some(),
        webhook_signed: config.alerts.webhook_secret.is_some(),
        mail_transport: transport
            .split_once("://")
            .map_or(transport.as_str(), |(s, _)| s)
            .to_owned(),
    }
}
