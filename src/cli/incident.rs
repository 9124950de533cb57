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
        /// Also revoke every refresh token reauth holds at Salesforce (for a public client or a
        /// secret that cannot be rotated: every customer must consent again). The worker
        /// revokes them, a few at a time per instance; `reauth incident status` shows progress.
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
            if let Some(w) = &started.incident.wave {
                println!("emergency wave: {w} (every affected org joins it)");
            }
            if started.incident.revoke {
                println!(
                    "{} connections to revoke: the worker revokes them and moves their orgs to needs_reauth; follow with `reauth incident status`",
                    started.to_revoke
                );
            }
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
                        Some(i) if i.state == "open" => {
                            println!(
                                "incident {}: OPEN since {} by {}: {}",
                                i.id,
                                i.started_at.format("%Y-%m-%d %H:%M UTC"),
                                i.started_by,
                                i.reason,
                            );
                            println!("{}", progress_line(i));
                        }
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

/// `revocation: [#####.....] 512/1000 revoked, 3 failed, 485 pending` and the wave's counts.
fn progress_line(i: &incidents::IncidentView) -> String {
    let p = &i.progress;
    let wave = format!(
        "{} orgs affected, {} notified, {} re-consented",
        i.affected, i.notified, i.reconsented
    );
    if !i.revoke {
        return format!("no revocation (secret-rotation path); {wave}");
    }
    let total = p.total().max(1);
    let done = usize::try_from((p.revoked + p.failed) * 20 / total).unwrap_or(20);
    format!(
        "revocation: [{}{}] {}/{} revoked, {} failed, {} pending ({} in flight); {wave}",
        "#".repeat(done),
        ".".repeat(20 - done.min(20)),
        p.revoked,
        p.total(),
        p.failed,
        p.pending + p.revoking,
        p.revoking,
    )
}
