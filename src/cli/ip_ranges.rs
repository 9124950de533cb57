//! `ip-ranges allowlist`: the ranges as the External Client App's refresh-token IP allowlist
//! takes them (start and end address), current and upcoming.

use std::process::ExitCode;

use clap::Subcommand;
use domain::config::Config;

#[derive(Debug, Subcommand)]
pub enum IpRangesCommand {
    /// Print every current and upcoming range as a start and an end address, for the External
    /// Client App's Settings → Enforce Refresh Token IP Allowlist (the partner's setting, made
    /// once). Refuses past 128 ranges or 256 addresses, Salesforce's limits.
    Allowlist,
}

pub fn run(config: &Config, cmd: IpRangesCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        IpRangesCommand::Allowlist => {
            let today = chrono::Utc::now().date_naive();
            let entries = domain::ip_ranges::allowlist(&config.partner, today)?;
            if entries.is_empty() {
                anyhow::bail!("partner.egress_ranges is empty: there is nothing to allowlist");
            }
            println!("# start\tend\t# range");
            for e in &entries {
                let when = match e.from {
                    Some(d) if d > today => format!(" (upcoming, used from {d})"),
                    Some(d) => format!(" (in use since {d})"),
                    None => " (in use)".to_owned(),
                };
                println!("{}\t{}\t# {}{when}", e.start, e.end, e.cidr);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
