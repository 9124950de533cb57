//! Secrets read from files (`*_file` keys): one client secret or a staged rotation's list, for the
//! ECA and the legacy app, and the crypto key file.

use std::path::{Path, PathBuf};

use secrecy::SecretString;

use super::ConfigError;
use crate::config::Config;

/// Reads `*_file` secrets. Relative paths are relative to the config file's directory.
pub(super) fn resolve_secret_files(
    config: &mut Config,
    file: Option<&Path>,
) -> Result<(), ConfigError> {
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
