//! `incident start|close|status|resume`: incidents (the app or its secret is compromised), and
//! the breaker that pauses the heartbeat and every notice when too many exchanges come back
//! revoked or `invalid_client`, and resuming after it tripped.

use std::process::ExitCode;

use clap::Subcommand;
use domain::config::Config;
use domain::security::incident::incidents;

use super::output::Format;

#[derive(Debug, Subcommand)]
pub enum IncidentCommand {
    /// Start an incident: the app or its consumer secret is compromised. Rotate the consumer
    /// secret at Salesforce first (the least destructive step that works); starting ends the
    /// breaker's hold. A second incident while one is open is refused.
    Start {
        /// What happened (recorded in the incident and its event).
        #[arg(long)]
        reason: String,
        /// Revoke every refresh token reauth holds at Salesforce (not built yet: refused).
        #[arg(long)]
        revoke: bool,
    },
    /// Close the open incident.
    Close,
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
    match cmd {
        IncidentCommand::Start { reason, revoke } => {
            let started =
                match incidents::start(&db, &config, &super::cli_actor(), &reason, revoke, now)
                    .await
                {
                    Ok(s) => s,
                    Err(e) if e.fault() == domain::error::Fault::Caller => {
                        eprintln!("error: {e}");
                        return Ok(ExitCode::from(1));
                    }
                    Err(e) => return Err(e.into()),
                };
            println!(
                "incident {} started: {}",
                started.incident.id, started.incident.reason
            );
            if started.breaker_resumed {
                println!("the breaker was tripped: its hold ends with the incident");
            }
            if !started.secret_rotated {
                println!(
                    "warning: salesforce.secret_rotated_at ({}) is older than the incident. Rotate the consumer secret now: in Salesforce Setup open the External Client App's OAuth settings, generate a new consumer secret, add it last in salesforce.client_secrets, set salesforce.secret_rotated_at to today and restart reauth; remove the old secret once `reauth secrets status` shows the new one accepted",
                    config
                        .salesforce
                        .secret_rotated_at
                        .map_or_else(|| "not set".to_owned(), |d| d.to_string())
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        IncidentCommand::Close => match incidents::close(&db, &super::cli_actor(), now).await {
            Ok(i) => {
                println!("incident {} closed", i.id);
                Ok(ExitCode::SUCCESS)
            }
            Err(e) if e.fault() == domain::error::Fault::Caller => {
                eprintln!("error: {e}");
                Ok(ExitCode::from(1))
            }
            Err(e) => Err(e.into()),
        },
        IncidentCommand::Status { format } => {
            let breaker = domain::security::incident::breaker::status(&db, now).await?;
            let incident = incidents::current(&db).await?;
            match format {
                Format::Json => {
                    // The breaker's fields as before, with the incident beside them.
                    let mut json = serde_json::to_value(&breaker)?;
                    json["incident"] = serde_json::to_value(&incident)?;
                    println!("{}", serde_json::to_string_pretty(&json)?);
                }
                Format::Table | Format::Csv => {
                    match &incident {
                        Some(i) if i.state == "open" => println!(
                            "incident {}: OPEN since {} by {}: {} ({} connections revoked)",
                            i.id,
                            i.started_at.format("%Y-%m-%d %H:%M UTC"),
                            i.started_by,
                            i.reason,
                            i.revoked
                        ),
                        Some(i) => println!(
                            "incident: none open (incident {} closed {} by {})",
                            i.id,
                            i.closed_at
                                .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                                .unwrap_or_default(),
                            i.closed_by.as_deref().unwrap_or_default()
                        ),
                        None => println!("incident: none"),
                    }
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
