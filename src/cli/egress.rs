//! `egress check`: the address Salesforce would see reauth's calls come from.

use std::process::ExitCode;

use clap::Subcommand;
use domain::config::Config;

#[derive(Debug, Subcommand)]
pub enum EgressCommand {
    /// Call salesforce.egress_check_url through salesforce.proxy (as every Salesforce call
    /// goes) and print the address it saw; exit 1 when it is outside partner.egress_ranges.
    Check,
}

pub async fn run(config: Config, cmd: EgressCommand) -> anyhow::Result<ExitCode> {
    super::init_tracing("warn");
    match cmd {
        EgressCommand::Check => {
            let r = domain::salesforce::egress_check(&config).await?;
            println!("{}", r.ip);
            let via = r.proxy.as_deref().unwrap_or("no proxy (direct)");
            if config.partner.egress_ranges.is_empty() {
                eprintln!(
                    "through {via}; partner.egress_ranges is empty, so nothing to compare with"
                );
                return Ok(ExitCode::from(1));
            }
            if r.in_egress_ranges {
                eprintln!("through {via}: inside partner.egress_ranges");
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!(
                    "through {via}: OUTSIDE partner.egress_ranges ({}); Salesforce would refuse or the monitor would alert egress.out_of_range",
                    config.partner.egress_range_texts().join(", ")
                );
                Ok(ExitCode::from(1))
            }
        }
    }
}
