//! `waves create|list|pause|resume`.

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::Subcommand;
use domain::campaign::WaveView;
use domain::config::Config;

use super::output::{Format, print_rows};

fn rfc3339(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| format!("`{s}` is not an RFC 3339 time such as 2026-12-31T17:00:00Z: {e}"))
}

#[derive(Debug, Subcommand)]
pub enum WavesCommand {
    /// Create a wave.
    Create {
        name: String,
        /// RFC 3339, e.g. 2026-12-31T17:00:00Z.
        #[arg(long, value_parser = rfc3339)]
        deadline: DateTime<Utc>,
        /// RFC 3339 (default: now).
        #[arg(long, value_parser = rfc3339)]
        start: Option<DateTime<Utc>>,
        /// e.g. announce@start,remind@-7d,final@deadline,escalate@+1d (default: the standard schedule).
        #[arg(long)]
        steps: Option<String>,
    },
    /// List waves with their progress.
    List {
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Show one wave: progress by org state, notices by kind and status.
    Show {
        name: String,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Stop sending a wave's notices.
    Pause { name: String },
    /// Send a paused wave's notices again.
    Resume { name: String },
}

pub async fn run(config: Config, cmd: WavesCommand) -> anyhow::Result<ExitCode> {
    super::init_tracing("warn");
    let missing = if matches!(cmd, WavesCommand::Create { .. }) {
        super::db::IfMissing::Create
    } else {
        super::db::IfMissing::Refuse
    };
    let db = super::db::open(&config, missing).await?;
    let now = Utc::now();
    let actor = super::cli_actor();
    match cmd {
        WavesCommand::Create {
            name,
            deadline,
            start,
            steps,
        } => {
            let w = domain::campaign::create_wave(
                &db,
                &name,
                start,
                deadline,
                steps.as_deref(),
                &actor,
                now,
            )
            .await?;
            println!(
                "wave `{}` created: {} → {}, steps {}",
                w.name,
                w.starts_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                deadline.to_rfc3339(),
                w.steps
            );
        }
        WavesCommand::List { format } => {
            let waves = domain::campaign::list_waves(&db).await?;
            let t = |d: &Option<DateTime<Utc>>| d.map(|d| d.to_rfc3339()).unwrap_or_default();
            print_rows::<WaveView>(
                format,
                &waves,
                &[
                    ("name", &|w| w.name.clone()),
                    ("start", &|w| t(&w.starts_at)),
                    ("deadline", &|w| t(&w.deadline)),
                    ("orgs", &|w| w.orgs.to_string()),
                    ("done", &|w| w.done.to_string()),
                    ("paused", &|w| w.paused.to_string()),
                    ("steps", &|w| w.steps.clone()),
                ],
            )?;
        }
        WavesCommand::Show { name, format } => {
            let d = domain::campaign::show_wave(&db, &name).await?;
            if format == Format::Json {
                println!("{}", serde_json::to_string_pretty(&d)?);
            } else {
                let w = &d.wave;
                let t = |d: &Option<DateTime<Utc>>| d.map(|d| d.to_rfc3339()).unwrap_or_default();
                println!("{}{}", w.name, if w.paused { " (paused)" } else { "" });
                println!(
                    "  start     {}\n  deadline  {}\n  steps     {}\n  orgs      {} ({} done)",
                    t(&w.starts_at),
                    t(&w.deadline),
                    w.steps,
                    w.orgs,
                    w.done
                );
                println!("orgs by state:");
                for (k, v) in &d.orgs_by_state {
                    println!("  {k:<16} {v}");
                }
                println!("notices:");
                for (k, v) in &d.notices {
                    println!("  {k:<24} {v}");
                }
            }
        }
        WavesCommand::Pause { name } => {
            domain::campaign::set_paused(&db, &name, true, &actor, now).await?;
            eprintln!("wave `{name}` paused");
        }
        WavesCommand::Resume { name } => {
            domain::campaign::set_paused(&db, &name, false, &actor, now).await?;
            eprintln!("wave `{name}` resumed");
        }
    }
    Ok(ExitCode::SUCCESS)
}
