//! `doctor ORG_ID`: the token-use monitor's calibration on demand against one org.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use domain::config::Config;
use domain::time::Clock;
use domain::types::OrgId;

use super::db::{IfMissing, open};
use super::output::{Format, print_rows};

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// The org (15 or 18 characters).
    pub org_id: String,
    /// How far back to read LoginHistory.
    #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
    pub since: std::time::Duration,
    /// Allow one token exchange when the connection holds no fresh access token (a login in
    /// the customer's org; the monitor itself never does this).
    #[arg(long)]
    pub refresh: bool,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub async fn run(config: Config, args: DoctorArgs) -> anyhow::Result<ExitCode> {
    super::init_tracing("warn");
    let org = OrgId::parse(&args.org_id).with_context(|| format!("`{}`", args.org_id))?;
    let db = open(&config, IfMissing::Refuse).await?;
    let config = Arc::new(config);
    let clock = Clock::system();
    let Some(vault) = domain::vault::Vault::from_config(db, config, clock.clone(), "doctor")?
    else {
        anyhow::bail!(
            "the doctor reads LoginHistory through the vault: set salesforce.client_id and crypto.keys"
        );
    };
    let since =
        clock.now() - chrono::Duration::from_std(args.since).context("--since is too long")?;
    let r = domain::monitor::doctor::doctor(&vault, &org, since, args.refresh).await?;
    vault.drain(vault.drain_timeout()).await;
    if args.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    print_rows(
        args.format,
        &r.rows,
        &[
            ("LoginTime", &|x| {
                x.login_time.format("%Y-%m-%d %H:%M:%S").to_string()
            }),
            ("SourceIp", &|x| {
                format!(
                    "{}{}",
                    x.source_ip,
                    if x.in_egress_ranges {
                        ""
                    } else {
                        " (outside egress_ranges)"
                    }
                )
            }),
            ("Country", &|x| x.country.clone().unwrap_or_default()),
            ("Status", &|x| x.status.clone()),
            ("Application", &|x| x.application.clone()),
            ("LoginSubType", &|x| x.login_sub_type.clone()),
            ("monitor sees", &|x| x.finding.to_owned()),
        ],
    )?;
    if args.format == Format::Table {
        println!();
        println!(
            "Application of reauth's rows: {}",
            r.application
                .as_deref()
                .unwrap_or("not learned (no row matched an exchange of ours)")
        );
        println!(
            "LoginSubType of reauth's refreshes: {}",
            r.login_sub_type.as_deref().unwrap_or("not learned")
        );
        println!(
            "Our successful exchanges since {}: {}, with a LoginHistory row: {}",
            r.since.format("%Y-%m-%d %H:%M UTC"),
            r.exchanges,
            r.exchanges_with_a_row
        );
        if r.exchanges > 0 && r.exchanges_with_a_row * 100 < r.exchanges * 95 {
            println!(
                "Fewer than 95% of our exchanges show up: the monitor would call this connection blind."
            );
        }
        println!("LoginHistory queries made: {}", r.queries);
    }
    Ok(ExitCode::SUCCESS)
}
