//! `config check`.

use std::process::ExitCode;

use domain::config::Config;

pub fn check(config: &Config) -> anyhow::Result<ExitCode> {
    print!("{}", config.to_redacted_toml());
    eprintln!("configuration is valid");
    Ok(ExitCode::SUCCESS)
}
