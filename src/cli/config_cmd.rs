//! `config check`: every problem of the configuration at once, or the effective values.

use std::path::PathBuf;
use std::process::ExitCode;

use domain::config::{ConfigError, LoadOptions};
use domain::wording::count;

/// Loads the configuration as every command does and prints the effective values (secrets
/// redacted) to stdout, or each problem on a line of its own to stderr and exits 1.
pub fn check(path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let env = std::env::vars().collect();
    match domain::config::load(&LoadOptions { path, env }) {
        Ok((config, warnings)) => {
            for w in warnings {
                eprintln!("warning: {w}");
            }
            print!("{}", config.to_redacted_toml());
            eprintln!("configuration is valid");
            Ok(ExitCode::SUCCESS)
        }
        Err(ConfigError::Keys(problems)) => {
            for p in &problems {
                eprintln!("{p}");
            }
            eprintln!(
                "error: the configuration is not valid ({})",
                count(problems.len() as u64, "problem")
            );
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e.into()),
    }
}
