//! Reading, merging and validating the configuration.

use std::fmt;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};

use super::{Config, EnvVars, parse_key};
use crate::types::LoginUrl;

/// Where to read from.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// An explicit `--config FILE` (must exist); otherwise `reauth.toml` in the working
    /// directory is read when present.
    pub path: Option<PathBuf>,
    /// The environment (normally the process's).
    pub env: EnvVars,
}

/// One problem with one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyProblem {
    /// Dotted key, e.g. `salesforce.client_id`.
    pub key: String,
    pub message: String,
    /// The file, when the problem is the file's own (a key it must not have): the problem then
    /// reads `FILE: [section] key: message`.
    pub file: Option<PathBuf>,
    /// Whether `key` names a whole table (`[salesforc]`) rather than a key.
    pub table: bool,
}

impl KeyProblem {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
            file: None,
            table: false,
        }
    }
}

impl fmt::Display for KeyProblem {
    /// `key: message`, or for a key of the file `FILE: [section] key: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(file) = &self.file else {
            return write!(f, "{}: {}", self.key, self.message);
        };
        write!(f, "{}: ", file.display())?;
        match (self.table, self.key.rsplit_once('.')) {
            (true, _) => write!(f, "[{}]", self.key)?,
            (false, Some((section, key))) => write!(f, "[{section}] {key}")?,
            (false, None) => f.write_str(&self.key)?,
        }
        write!(f, ": {}", self.message)
    }
}

/// The configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--config FILE` names nothing.
    #[error("config file {} does not exist", .0.display())]
    NotFound(PathBuf),
    // The source is not repeated in the message: error chains print it after this one.
    #[error("cannot read config file {}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", render(.0))]
    Keys(Vec<KeyProblem>),
}

fn render(problems: &[KeyProblem]) -> String {
    let mut s = String::from("invalid configuration:");
    for p in problems {
        s.push_str(&format!("\n  {p}"));
    }
    s
}

impl ConfigError {
    /// A required key is absent.
    pub fn missing(key: &str, what: impl fmt::Display) -> Self {
        Self::Keys(vec![KeyProblem::new(key, format!("missing: {what}"))])
    }

    /// A key has an unusable value.
    pub fn invalid(key: &str, message: impl Into<String>) -> Self {
        Self::Keys(vec![KeyProblem::new(key, message)])
    }

    /// The problems, for tests and callers that want to look at keys.
    pub fn problems(&self) -> &[KeyProblem] {
        match self {
            Self::Keys(p) => p,
            Self::Read { .. } | Self::NotFound(_) => &[],
        }
    }
}

/// Environment variables the test suite owns; never configuration.
const TEST_PREFIX: &str = "REAUTH_TEST_";

/// Loads, merges and validates. Returns the configuration and warnings (unknown `REAUTH_`
/// variables) for the caller to log.
///
/// Every problem is reported at once: each unknown key of the file (as `FILE: [section] key:
/// unknown key (did you mean …?)`) and each unusable value.
pub fn load(opts: &LoadOptions) -> Result<(Config, Vec<String>), ConfigError> {
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    let file = match &opts.path {
        // `exists`, not `is_file`: `/dev/null` (or a pipe) is an empty file, not a missing one.
        Some(p) if !p.exists() => return Err(ConfigError::NotFound(p.clone())),
        Some(p) => Some(p.clone()),
        None => Some(PathBuf::from("reauth.toml")).filter(|p| p.is_file()),
    };
    let mut problems = Vec::new();
    if let Some(path) = &file {
        // Read it ourselves first so an unreadable file is reported as such, not as "empty".
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let table = match text.parse::<toml::Table>() {
            Ok(t) => t,
            Err(e) => {
                return Err(ConfigError::invalid(
                    &path.display().to_string(),
                    format!("not valid TOML: {e}"),
                ));
            }
        };
        let (unknown, kept) = Config::schema().unknown_keys(&table);
        for u in unknown {
            let what = if u.table { "section" } else { "key" };
            let mut message = format!("unknown {what}");
            if let Some(s) = u.suggestion {
                message.push_str(&format!(" (did you mean {s}?)"));
            }
            problems.push(KeyProblem {
                key: match u.section {
                    Some(section) => format!("{section}.{}", u.key),
                    None => u.key,
                },
                message,
                file: Some(path.clone()),
                table: u.table,
            });
        }
        // The known keys go on, so their values are checked in the same run.
        figment = figment.merge(Toml::string(&kept.to_string()));
    }

    let known = Config::known_keys();
    let mut warnings = Vec::new();
    let mut env_pairs = Vec::new();
    for (name, value) in &opts.env {
        let Some(rest) = name.strip_prefix("REAUTH_") else {
            continue;
        };
        if name.starts_with(TEST_PREFIX) {
            continue;
        }
        let key = rest.to_ascii_lowercase().replace("__", ".");
        if known.contains(&key) {
            env_pairs.push((name.clone(), value.clone()));
        } else {
            let hint = super::unknown::suggest_dotted(&key, &known)
                .map(|k| {
                    format!(
                        "; did you mean REAUTH_{}?",
                        k.replace('.', "__").to_ascii_uppercase()
                    )
                })
                .unwrap_or_default();
            warnings.push(format!(
                "ignoring unknown environment variable {name} (no config key `{key}`{hint})"
            ));
        }
    }
    // Our own provider over the given variables rather than figment's `Env`, which reads the
    // live process environment: loading stays deterministic and testable.
    figment = figment.merge(EnvSnapshot { pairs: env_pairs });

    let file_name = file.as_ref().map(|p| p.display().to_string());
    let extracted: Result<Config, _> = figment.extract();
    let mut config = match extracted {
        Ok(c) => c,
        Err(e) => {
            problems.extend(e.into_iter().map(|e| {
                let key = e.path.join(".");
                let source = e.metadata.as_ref().map(|m| m.name.to_string());
                let mut message = e.kind.to_string();
                match source.as_deref() {
                    Some(s) if s.contains("TOML source string") => {
                        if let Some(f) = &file_name {
                            message.push_str(&format!(" (in {f})"));
                        }
                    }
                    Some(s) if !s.contains("Serialized") => {
                        message.push_str(&format!(" (from {s})"));
                    }
                    _ => {}
                }
                KeyProblem::new(
                    if key.is_empty() {
                        "(top level)".to_owned()
                    } else {
                        key
                    },
                    message,
                )
            }));
            return Err(ConfigError::Keys(problems));
        }
    };
    if !problems.is_empty() {
        // Unknown keys, and the values of the known ones checked as far as they can be.
        if let Err(e) =
            resolve_secret_files(&mut config, file.as_deref()).and_then(|()| validate(&config))
        {
            problems.extend(e.problems().iter().cloned());
        }
        return Err(ConfigError::Keys(problems));
    }
    resolve_secret_files(&mut config, file.as_deref())?;
    validate(&config)?;
    Ok((config, warnings))
}

/// A figment provider over a fixed list of `REAUTH_SECTION__KEY` variables.
struct EnvSnapshot {
    pairs: Vec<(String, String)>,
}

impl figment::Provider for EnvSnapshot {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named("environment variable(s)")
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        let mut dict = figment::value::Dict::new();
        for (name, raw) in &self.pairs {
            let key = name["REAUTH_".len()..].to_ascii_lowercase();
            let path: Vec<&str> = key.split("__").collect();
            let value: figment::value::Value = raw.parse().unwrap_or_else(|_| raw.clone().into());
            insert_path(&mut dict, &path, value);
        }
        Ok(figment::Profile::Default.collect(dict))
    }
}

fn insert_path(dict: &mut figment::value::Dict, path: &[&str], value: figment::value::Value) {
    match path {
        [] => {}
        [last] => {
            dict.insert((*last).to_owned(), value);
        }
        [head, rest @ ..] => {
            let entry = dict
                .entry((*head).to_owned())
                .or_insert_with(|| figment::value::Value::from(figment::value::Dict::new()));
            if let figment::value::Value::Dict(_, inner) = entry {
                insert_path(inner, rest, value);
            }
        }
    }
}

/// Reads `*_file` secrets. Relative paths are relative to the config file's directory.
fn resolve_secret_files(config: &mut Config, file: Option<&Path>) -> Result<(), ConfigError> {
    let base = file
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let read = |key: &str, p: &Path| {
        let path = if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        };
        std::fs::read_to_string(&path)
            .map_err(|e| ConfigError::invalid(key, format!("cannot read {}: {e}", path.display())))
    };
    // The one-secret and the many-secrets forms, for both apps: one of them, from a file or not.
    let one = |secret: &mut Option<SecretString>,
               file: &Option<PathBuf>,
               section: &str|
     -> Result<(), ConfigError> {
        if let Some(p) = file {
            let key = format!("{section}.client_secret_file");
            if secret.is_some() {
                return Err(ConfigError::invalid(
                    &key,
                    format!(
                        "set {section}.client_secret or {section}.client_secret_file, not both"
                    ),
                ));
            }
            *secret = Some(SecretString::from(read(&key, p)?.trim().to_owned()));
        }
        Ok(())
    };
    let many = |secrets: &mut Vec<SecretString>,
                file: &Option<PathBuf>,
                single: bool,
                section: &str|
     -> Result<(), ConfigError> {
        if let Some(p) = file {
            let key = format!("{section}.client_secrets_file");
            for line in read(&key, p)?
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
            {
                secrets.push(SecretString::from(line.to_owned()));
            }
        }
        if single && !secrets.is_empty() {
            return Err(ConfigError::invalid(
                &format!("{section}.client_secrets"),
                format!(
                    "set {section}.client_secret (one secret) or {section}.client_secrets (a staged rotation), not both"
                ),
            ));
        }
        Ok(())
    };
    let sf = &mut config.salesforce;
    one(
        &mut sf.client_secret,
        &sf.client_secret_file.clone(),
        "salesforce",
    )?;
    let single = sf.client_secret.is_some();
    many(
        &mut sf.client_secrets,
        &sf.client_secrets_file.clone(),
        single,
        "salesforce",
    )?;
    let lg = &mut config.legacy;
    one(
        &mut lg.client_secret,
        &lg.client_secret_file.clone(),
        "legacy",
    )?;
    let single = lg.client_secret.is_some();
    many(
        &mut lg.client_secrets,
        &lg.client_secrets_file.clone(),
        single,
        "legacy",
    )?;
    if let Some(p) = config.crypto.key_file.clone() {
        let text = read("crypto.key_file", &p)?;
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            config.crypto.keys.push(SecretString::from(line.to_owned()));
        }
    }
    Ok(())
}

/// Checks every value once, reporting all problems together.
fn validate(c: &Config) -> Result<(), ConfigError> {
    let mut problems = Vec::new();
    let mut bad = |key: &str, message: String| problems.push(KeyProblem::new(key, message));

    if !matches!(c.base_url.scheme(), "http" | "https")
        || c.base_url.query().is_some()
        || c.base_url.fragment().is_some()
    {
        bad(
            "base_url",
            format!(
                "`{}` must be an http(s) URL without query or fragment",
                c.base_url
            ),
        );
    }
    let db = c.database_url.as_str();
    if !(db.starts_with("sqlite:")
        || db.starts_with("postgres://")
        || db.starts_with("postgresql://"))
    {
        bad(
            "database_url",
            "must start with sqlite:, postgres:// or postgresql://".into(),
        );
    }
    for h in &c.salesforce.extra_login_hosts {
        if h.contains("://") || h.contains('/') || h.trim().is_empty() {
            bad(
                "salesforce.extra_login_hosts",
                format!("`{h}` must be `host` or `host:port`, without scheme or path"),
            );
        }
    }
    if let Err(e) = LoginUrl::parse(&c.salesforce.login_url, &c.salesforce.extra_login_hosts) {
        bad("salesforce.login_url", e.to_string());
    }
    if let Err(e) = LoginUrl::parse(
        &c.salesforce.sandbox_login_url,
        &c.salesforce.extra_login_hosts,
    ) {
        bad("salesforce.sandbox_login_url", e.to_string());
    }
    if !c
        .salesforce
        .scopes
        .iter()
        .any(|s| s == "refresh_token" || s == "offline_access")
    {
        bad(
            "salesforce.scopes",
            "must include refresh_token (or offline_access), or Salesforce issues no refresh token"
                .into(),
        );
    }
    let v = &c.salesforce.api_version;
    let version_ok = v.split_once('.').is_some_and(|(a, b)| {
        !a.is_empty()
            && !b.is_empty()
            && a.bytes().all(|x| x.is_ascii_digit())
            && b.bytes().all(|x| x.is_ascii_digit())
    });
    if !version_ok {
        bad(
            "salesforce.api_version",
            format!("`{v}` must look like 66.0"),
        );
    }
    if c.salesforce.session_timeout.is_zero() {
        bad(
            "salesforce.session_timeout",
            "must be more than zero".into(),
        );
    }
    if c.salesforce.http_timeout.is_zero() {
        bad("salesforce.http_timeout", "must be more than zero".into());
    }
    if c.links.ttl.is_zero() {
        bad("links.ttl", "must be more than zero".into());
    }
    if c.crypto.rotate_every < std::time::Duration::from_secs(86_400) {
        bad("crypto.rotate_every", "must be at least 1d".into());
    }
    let hb = &c.heartbeat;
    if hb.interval.is_zero() || hb.interval >= hb.idle_timeout {
        bad(
            "heartbeat.interval",
            format!(
                "must be more than zero and less than heartbeat.idle_timeout ({}), or tokens idle out",
                super::format_duration(hb.idle_timeout)
            ),
        );
    }
    if hb.concurrency == 0 {
        bad("heartbeat.concurrency", "must be at least 1".into());
    }
    if hb.per_instance == 0 {
        bad("heartbeat.per_instance", "must be at least 1".into());
    }
    if hb.sweep_every.is_zero() {
        bad("heartbeat.sweep_every", "must be more than zero".into());
    }
    if c.campaign.tick.is_zero() {
        bad("campaign.tick", "must be more than zero".into());
    }
    if !c.campaign.quiet_hours.is_empty()
        && crate::time::QuietHours::parse(&c.campaign.quiet_hours).is_none()
    {
        bad(
            "campaign.quiet_hours",
            format!("`{}` must be empty or HH:MM-HH:MM", c.campaign.quiet_hours),
        );
    }
    let t = c.mail.transport.as_str();
    if !(t == "log"
        || t.starts_with("file://")
        || t.starts_with("smtp://")
        || t.starts_with("smtps://")
        || t.starts_with("smtp+starttls://"))
    {
        bad(
            "mail.transport",
            format!(
                "`{}` must be log, file:///DIR, smtp://, smtp+starttls:// or smtps://",
                super::redact::hide_password(t)
            ),
        );
    }
    if c.mail.from.parse::<lettre::message::Mailbox>().is_err() {
        bad(
            "mail.from",
            format!(
                "`{}` is not a mailbox such as `Name <noreply@example.com>`",
                c.mail.from
            ),
        );
    }
    for e in &c.alerts.email {
        if crate::types::Email::parse(e).is_err() {
            bad(
                "alerts.email",
                format!("`{e}` is not an email address such as ops@partner.example"),
            );
        }
    }
    if let Some(u) = &c.alerts.webhook_url
        && !matches!(u.scheme(), "http" | "https")
    {
        bad(
            "alerts.webhook_url",
            format!("must be an http(s) URL, not {}://", u.scheme()),
        );
    }
    if let Some(s) = &c.alerts.webhook_secret
        && s.expose_secret().trim().is_empty()
    {
        bad(
            "alerts.webhook_secret",
            "is empty: remove the key or set a secret".into(),
        );
    }
    for u in &c.partner.upcoming_egress_ranges {
        if c.partner.egress_ranges.contains(&u.cidr) {
            bad(
                "partner.upcoming_egress_ranges",
                format!("{} is already in partner.egress_ranges", u.cidr),
            );
        }
    }
    let m = &c.monitor;
    if m.every < std::time::Duration::from_secs(60) {
        bad("monitor.every", "must be at least 1m".into());
    }
    if m.concurrency == 0 {
        bad("monitor.concurrency", "must be at least 1".into());
    }
    if m.per_instance == 0 {
        bad("monitor.per_instance", "must be at least 1".into());
    }
    if !(m.volume_factor.is_finite() && m.volume_factor > 1.0) {
        bad(
            "monitor.volume_factor",
            format!("`{}` must be a number above 1", m.volume_factor),
        );
    }
    if m.volume_floor < 1 {
        bad("monitor.volume_floor", "must be at least 1".into());
    }
    if m.match_window.is_zero() || m.match_window > std::time::Duration::from_secs(3600) {
        bad(
            "monitor.match_window",
            "must be more than zero and at most 1h".into(),
        );
    }
    super::incident::validate(&c.incident, &mut bad);
    if c.api.deadline.is_zero() {
        bad("api.deadline", "must be more than zero".into());
    }
    let mut ids = std::collections::BTreeSet::new();
    for k in &c.crypto.keys {
        match parse_key(k.expose_secret()) {
            Ok((id, _)) => {
                if !ids.insert(id.clone()) {
                    bad("crypto.keys", format!("key id `{id}` appears twice"));
                }
            }
            Err(e) => problems_extend(&mut bad, e),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::Keys(problems))
    }
}

fn problems_extend(bad: &mut impl FnMut(&str, String), e: ConfigError) {
    for p in e.problems() {
        bad(&p.key, p.message.clone());
    }
}
