//! `events list`.

use std::process::ExitCode;

use clap::Subcommand;
use domain::config::Config;
use domain::events::{EventFilter, EventView};
use domain::types::OrgId;

use super::output::{Format, print_rows};

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// List events, newest first.
    List {
        /// Only this org's events.
        #[arg(long, value_parser = OrgId::parse)]
        org: Option<OrgId>,
        /// Only events of this kind (e.g. org.state_changed).
        #[arg(long)]
        kind: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u64,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

pub async fn run(config: Config, cmd: EventsCommand) -> anyhow::Result<ExitCode> {
    super::init_tracing("warn");
    let db = super::db::open(&config, super::db::IfMissing::Refuse).await?;
    match cmd {
        EventsCommand::List {
            org,
            kind,
            limit,
            format,
        } => {
            let events = domain::events::list(
                &db,
                &EventFilter {
                    org,
                    kind,
                    limit,
                    ..Default::default()
                },
            )
            .await?;
            print_rows::<EventView>(
                format,
                &events,
                &[
                    ("at", &|e| e.at.to_rfc3339()),
                    ("actor", &|e| match &e.actor {
                        Some(a) => format!("{}:{a}", e.actor_kind),
                        None => e.actor_kind.clone(),
                    }),
                    ("org_id", &|e| {
                        e.org_id
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_default()
                    }),
                    ("kind", &|e| e.kind.clone()),
                    ("details", &|e| e.details.to_string()),
                ],
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
