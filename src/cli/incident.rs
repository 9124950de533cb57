//! `incident status|resume`: the breaker that pauses the heartbeat and every notice when too
//! many exchanges come back revoked or `invalid_client`, and resuming after it tripped.

use std::process::ExitCode;

use clap::Subcommand;
use domain::config::Config;

use super::output::Format;

#[derive(Debug, Subcommand)]
pub enum IncidentCommand {
    /// The breaker: tripped or not, what tripped it, and the counts it judges now (exchanges
    /// since the last hour or the last resume, and how many came back revoked or
    /// `invalid_client`). Exit 1 while it is tripped.
    Status {
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Reset a tripped breaker: the heartbeat and the held notices go on, and exchanges before
    /// now no longer count. Do it once the cause is understood and fixed (a wrong secret, a
    /// restored database); if the app or its secret is compromised, start an incident instead.
    Resume,
}

pub async fn run(config: Config, cmd: IncidentCommand) -> anyhow::Result<ExitCode> {
    super::init_tracing("warn");
    let db = super::db::open(&config, super::db::IfMissing::Refuse).await?;
    let now = chrono::Utc::now();
    let breaker = domain::security::incident::breaker::status(&db, now).await?;
    match cmd {
        IncidentCommand::Status { format } => {
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&breaker)?),
                Format::Table | Format::Csv => {
                    match breaker.tripped_at {
                        Some(at) => println!(
                            "breaker: TRIPPED at {} ({} of {} exchanges came back revoked or invalid_client); the heartbeat and every notice are paused",
                            at.to_rfc3339(),
                            breaker.refused.unwrap_or_default(),
                            breaker.exchanges.unwrap_or_default()
                        ),
                        None => println!("breaker: closed"),
                    }
                    println!(
                        "window: {} exchanges, {} revoked or invalid_client (trips above {} with at least {})",
                        breaker.window_exchanges,
                        breaker.window_refused,
                        config.incident.breaker,
                        config.incident.breaker_floor
                    );
                    if let (Some(at), Some(by)) = (breaker.resumed_at, &breaker.resumed_by) {
                        println!("last resumed: {} by {by}", at.to_rfc3339());
                    }
                }
            }
            Ok(if breaker.tripped() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        IncidentCommand::Resume => {
            if domain::security::incident::breaker::resume(&db, &super::cli_actor(), now).await? {
                println!("breaker resumed: the heartbeat and the held notices go on");
            } else {
                println!("the breaker is not tripped: nothing changed");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
