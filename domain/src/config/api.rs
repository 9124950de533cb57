//! `[api]`: the token API's own limits.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;

/// `[api]`: the token API.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// The longest a token-API call waits for its answer. Past it the caller gets 503 with
    /// `Retry-After`, while the exchange, the probe and the persist finish in the background
    /// (the vault counts such answers: `reauth_api_deadline_missed_total`).
    #[serde(with = "duration")]
    pub deadline: Duration,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(15),
        }
    }
}

#[cfg(test)]
mod tests {
    //! `[api]` as an operator writes it: the deadline read, a bad one refused by name, a
    //! misspelt key named with a suggestion.

    use std::path::PathBuf;
    use std::time::Duration;

    use super::super::{Config, ConfigError, LoadOptions, load};

    fn load_text(text: &str) -> (tempfile::TempDir, PathBuf, Result<Config, ConfigError>) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let path = dir.path().join("reauth.toml");
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write: {e}"));
        let loaded = load(&LoadOptions {
            path: Some(path.clone()),
            env: Default::default(),
        })
        .map(|(c, _)| c);
        (dir, path, loaded)
    }

    fn problems(e: &ConfigError) -> Vec<String> {
        e.problems().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn the_deadline_defaults_to_15_seconds_and_reads_a_human_duration() {
        let (_d, _p, loaded) = load_text("");
        let c = loaded.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.api.deadline, Duration::from_secs(15));
        let (_d, _p, loaded) = load_text("[api]\ndeadline = \"2500ms\"\n");
        let c = loaded.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.api.deadline, Duration::from_millis(2500));
        assert!(c.to_redacted_toml().contains("deadline = \"2s500ms\""));
    }

    #[test]
    fn a_zero_deadline_is_refused_by_name() {
        let (_d, _p, loaded) = load_text("[api]\ndeadline = \"0s\"\n");
        let Err(e) = loaded else {
            panic!("a zero deadline was accepted")
        };
        assert_eq!(problems(&e), ["api.deadline: must be more than zero"]);
    }

    #[test]
    fn a_deadline_that_is_not_a_duration_is_refused_by_name() {
        let (_d, _p, loaded) = load_text("[api]\ndeadline = \"soon\"\n");
        let Err(e) = loaded else {
            panic!("`soon` was accepted")
        };
        let got = problems(&e);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].starts_with("api.deadline: "), "{got:?}");
    }

    #[test]
    fn a_misspelt_api_key_is_named_with_a_suggestion() {
        let (_d, path, loaded) = load_text("[api]\ndeadlin = \"5s\"\n");
        let Err(e) = loaded else {
            panic!("an unknown key was accepted")
        };
        assert_eq!(
            problems(&e),
            [format!(
                "{}: [api] deadlin: unknown key (did you mean deadline?)",
                path.display()
            )]
        );
    }
}
