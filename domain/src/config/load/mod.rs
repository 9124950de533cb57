//! Reading, merging and validating the configuration: the file (its unknown keys reported
//! together), then the `REAUTH_…` variables (`env`), then the `*_file` secrets
//! (`secret_files`), then every value checked once (`validate`).

mod env;
mod secret_files;
mod validate;

use std::fmt;
use std::path::PathBuf;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};

use super::{Config, EnvVars};
use env::EnvSnapshot;
use secret_files::resolve_secret_files;
use validate::validate;

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
