//! `compliance report`: the evidence from what reauth did, for a Security Review submission.

use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use domain::compliance::report::{self, Period, render};
use domain::config::Config;

#[derive(Debug, Subcommand)]
pub enum ComplianceCommand {
    /// The compliance report from reauth's own records and its running configuration: PKCE on
    /// consents, refresh token rotation, idle gaps against the timeout, egress, tokens sealed at
    /// rest, staff two-factor, secret and key ages, open critical alerts, and how secrets are
    /// secured. Exit 0 when no check fails, 1 when one does, 2 on a bad --from or --to.
    Report {
        /// Start of the period: a date (2026-11-01, from its start) or an RFC 3339 date-time.
        /// Default: 30 days before --to.
        #[arg(long)]
        from: Option<String>,
        /// End of the period: a date (2026-11-30, including that day) or an RFC 3339
        /// date-time. Default: now.
        #[arg(long)]
        to: Option<String>,
        /// md (Markdown, default), html (a standalone document) or json.
        #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
        format: ReportFormat,
    },
}

/// How the report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Md,
    Html,
    Json,
}

pub async fn run(config: Config, cmd: ComplianceCommand) -> anyhow::Result<ExitCode> {
    super::init_tracing("warn");
    let ComplianceCommand::Report { from, to, format } = cmd;
    let now = chrono::Utc::now();
    let period = match Period::parse(from.as_deref(), to.as_deref(), now) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let db = super::db::open(&config, super::db::IfMissing::Refuse).await?;
    let r = report::build(&db, &config, period, now).await?;
    match format {
        ReportFormat::Md => print!("{}", render::markdown(&r)?),
        ReportFormat::Html => print!("{}", render::html(&r)?),
        ReportFormat::Json => println!("{}", render::json(&r)?),
    }
    Ok(if r.fails() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
