//! `secrets status`: which client secret Salesforce accepts, and whether rotation is due.

use std::process::ExitCode;

use clap::Subcommand;
use domain::config::Config;

use super::output::{Format, print_rows};

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Per app: the configured secrets (fingerprints, newest last), the one Salesforce accepted
    /// last and when, whether the newest has been accepted (then the older ones can go), and
    /// the rotation due date. Exit 1 when a rotation is overdue.
    Status {
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

pub async fn run(config: Config, cmd: SecretsCommand) -> anyhow::Result<ExitCode> {
    super::init_tracing("warn");
    let db = super::db::open(&config, super::db::IfMissing::Refuse).await?;
    let SecretsCommand::Status { format } = cmd;
    let rows =
        domain::security::secrets::status(&db, &config, chrono::Utc::now().date_naive()).await?;
    let opt = |v: Option<String>| v.unwrap_or_else(|| "—".into());
    print_rows(
        format,
        &rows,
        &[
            ("app", &|s| s.app.to_string()),
            ("configured (newest last)", &|s| s.configured.join(" ")),
            ("last accepted", &|s| opt(s.last_accepted.clone())),
            ("at", &|s| opt(s.last_accepted_at.map(|t| t.to_rfc3339()))),
            ("newest accepted", &|s| {
                if s.newest_accepted { "yes" } else { "no" }.to_owned()
            }),
            ("rotated", &|s| opt(s.rotated_at.map(|d| d.to_string()))),
            ("due", &|s| {
                let d = opt(s.due.map(|d| d.to_string()));
                if s.overdue {
                    format!("{d} (overdue)")
                } else {
                    d
                }
            }),
        ],
    )?;
    Ok(if rows.iter().any(|s| s.overdue) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
