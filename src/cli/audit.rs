//! `audit metadata`: lint the External Client App and Connected App metadata the partner ships.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use domain::compliance::metadata::{self, Severity, render};
use domain::config::Config;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check every External Client App bundle and Connected App under PATH against the mandate.
    #[command(long_about = METADATA_HELP)]
    Metadata {
        /// An SFDX project or a folder of retrieved metadata (walked recursively).
        path: PathBuf,
        /// How to print the findings.
        #[arg(long, value_enum, default_value_t = AuditFormat::Text)]
        format: AuditFormat,
        /// Exit 1 when a finding is at or above this severity.
        #[arg(long, value_enum, default_value_t = FailOn::Error)]
        fail_on: FailOn,
    },
}

const METADATA_HELP: &str = "\
Check every External Client App bundle (.eca, .ecaOauth, .ecaGlblOauth, .ecaOauthPlcy, .ecaPlcy, \
.ecaOauthSecurity) and every Connected App (.connectedApp) under PATH against Salesforce's partner \
security controls: PKCE required, refresh token rotation, refresh tokens that expire after at most \
30 idle days, IP enforcement and the refresh-token IP allowlist, no device / username-password / \
client-credentials / user-agent flows, no on-deploy key or secret rotation, least-privilege scopes, \
callback URLs, public versus confidential client settings, secrets in files, and legacy Connected \
Apps still present (with the registry's count of orgs still on them when a database is configured).

Each finding has a stable rule id (RA000-…), a severity, the app, file and line, what was found \
and what to set. Where the metadata cannot answer, the finding is a note that says \"cannot tell \
from metadata\": the External Client App's global OAuth settings are neither packaged nor kept in \
source control (retrieve a copy into PATH to have them checked), and its OAuth policy belongs to \
each subscriber org.

Exit codes: 0 no finding at or above --fail-on; 1 findings at or above --fail-on; 2 PATH missing \
or not a readable folder.";

/// How the findings are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    /// `FILE:LINE: SEVERITY RULE [APP]: finding`, then the fix, then a summary.
    Text,
    /// The whole report as one JSON document.
    Json,
    /// SARIF 2.1.0, for code-scanning UIs.
    Sarif,
}

/// The lowest severity that fails the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Error,
    Warning,
    Note,
}

impl From<FailOn> for Severity {
    fn from(f: FailOn) -> Self {
        match f {
            FailOn::Error => Severity::Error,
            FailOn::Warning => Severity::Warning,
            FailOn::Note => Severity::Note,
        }
    }
}

pub async fn run(config: Config, cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    super::init_tracing("warn");
    match cmd {
        AuditCommand::Metadata {
            path,
            format,
            fail_on,
        } => {
            let report = match metadata::audit(&path, &config).await {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::from(2));
                }
            };
            match format {
                AuditFormat::Text => print!("{}", render::text(&report)),
                AuditFormat::Json => println!("{}", render::json(&report)?),
                AuditFormat::Sarif => println!(
                    "{}",
                    serde_json::to_string_pretty(&render::sarif::sarif(&report))?
                ),
            }
            Ok(if report.fails_at(fail_on.into()) {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}
