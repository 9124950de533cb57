//! `orgs import|list|show|export`.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use domain::config::Config;
use domain::registry::state::OrgState;
use domain::registry::{ListFilter, OrgSummary, Planned, Progress};
use domain::types::OrgId;
use domain::wording::count;
use indicatif::{ProgressBar, ProgressStyle};

use super::ImportArgs;
use super::output::{Format, opt, print_rows};

#[derive(Debug, Subcommand)]
pub enum OrgsCommand {
    /// Import or update orgs from a CSV file (all-or-nothing unless --skip-invalid).
    Import {
        #[command(flatten)]
        args: ImportArgs,
        /// `table` prints a summary; `json` prints the report as JSON.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// List orgs.
    List {
        #[command(flatten)]
        filter: ListArgs,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Show one org with its contacts and recent events.
    Show {
        #[arg(value_parser = OrgId::parse)]
        org_id: OrgId,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Move orgs into a wave (each is notified again there).
    Move {
        #[arg(required = true, value_parser = OrgId::parse)]
        org_ids: Vec<OrgId>,
        #[arg(long)]
        wave: String,
    },
    /// Write every org as CSV in the import format (edit it and import it again).
    Export {
        /// Write to this file instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

/// `orgs list`'s filters.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[arg(long, value_parser = parse_state)]
    state: Option<OrgState>,
    #[arg(long)]
    wave: Option<String>,
    /// Owner (customer-success manager) email.
    #[arg(long)]
    csm: Option<String>,
    /// production or sandbox.
    #[arg(long, value_parser = parse_environment)]
    environment: Option<String>,
    /// Org id, part of a name, or part of a contact email.
    #[arg(long)]
    search: Option<String>,
    #[arg(long)]
    limit: Option<u64>,
    #[arg(long)]
    offset: Option<u64>,
}

impl From<ListArgs> for ListFilter {
    fn from(a: ListArgs) -> Self {
        Self {
            state: a.state,
            wave: a.wave,
            csm: a.csm,
            environment: a.environment,
            search: a.search,
            limit: a.limit,
            offset: a.offset,
            ..Default::default()
        }
    }
}

/// `production` or `sandbox` in the stored spelling, whatever the case given.
fn parse_environment(s: &str) -> Result<String, String> {
    s.parse::<domain::types::Environment>()
        .map(|e| e.as_str().to_owned())
        .map_err(|e| e.to_string())
}

fn parse_state(s: &str) -> Result<OrgState, String> {
    OrgState::parse(s).ok_or_else(|| {
        let all: Vec<_> = OrgState::ALL.iter().map(|s| s.as_str()).collect();
        format!("unknown state `{s}` (expected one of {})", all.join(", "))
    })
}

pub async fn run(config: Config, cmd: OrgsCommand) -> anyhow::Result<ExitCode> {
    super::init_tracing("warn");
    match cmd {
        OrgsCommand::Import { args, format } => import(config, args, format).await,
        OrgsCommand::List { filter, format } => {
            let db = super::db::open(&config, super::db::IfMissing::Refuse).await?;
            let filter = ListFilter::from(filter);
            let orgs = domain::registry::list(&db, &filter).await?;
            print_rows::<OrgSummary>(
                format,
                &orgs,
                &[
                    ("org_id", &|o| o.org_id.to_string()),
                    ("name", &|o| o.name.clone()),
                    ("environment", &|o| o.environment.to_string()),
                    ("state", &|o| o.state.to_string()),
                    ("wave", &|o| opt(&o.wave)),
                    ("admin_email", &|o| opt(&o.admin_email)),
                    ("csm_email", &|o| opt(&o.csm_email)),
                ],
            )?;
            Ok(ExitCode::SUCCESS)
        }
        OrgsCommand::Show { org_id, format } => {
            let db = super::db::open(&config, super::db::IfMissing::Refuse).await?;
            let detail = domain::registry::show(&db, &org_id).await?;
            if format == Format::Table {
                let o = &detail.org;
                println!("{} ({})", o.name, o.org_id);
                println!("  state        {}", o.state);
                if let Some(r) = &detail.attention_reason {
                    println!(
                        "  attention    {r} (owner: {})",
                        detail.attention_owner.as_deref().unwrap_or("-")
                    );
                }
                println!("  environment  {}", o.environment);
                println!(
                    "  login url    {}",
                    o.login_url
                        .as_deref()
                        .unwrap_or("(default for environment)")
                );
                println!("  wave         {}", o.wave.as_deref().unwrap_or("-"));
                println!("  csm          {}", o.csm_email.as_deref().unwrap_or("-"));
                println!("contacts:");
                for c in &detail.contacts {
                    println!(
                        "  {:<10} {} {} [{}]",
                        c.role,
                        c.email,
                        c.name.as_deref().unwrap_or(""),
                        c.bounce_status
                    );
                }
                println!("recent events:");
                for e in &detail.recent_events {
                    println!("  {} {} {}", e.at.to_rfc3339(), e.kind, e.details);
                }
            } else {
                println!("{}", serde_json::to_string_pretty(&detail)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        OrgsCommand::Move { org_ids, wave } => {
            let db = super::db::open(&config, super::db::IfMissing::Refuse).await?;
            let moved = domain::campaign::move_orgs(
                &db,
                &org_ids,
                &wave,
                &super::cli_actor(),
                chrono::Utc::now(),
            )
            .await?;
            println!("moved {} to wave `{wave}`", count(moved, "org"));
            Ok(ExitCode::SUCCESS)
        }
        OrgsCommand::Export { output } => {
            let db = super::db::open(&config, super::db::IfMissing::Refuse).await?;
            let rows = domain::registry::export_rows(&db).await?;
            let out: Box<dyn std::io::Write> = match &output {
                Some(p) => Box::new(
                    std::fs::File::create(p)
                        .with_context(|| format!("cannot create {}", p.display()))?,
                ),
                None => Box::new(std::io::stdout().lock()),
            };
            let mut w = csv::Writer::from_writer(out);
            for r in &rows {
                w.serialize(r)?;
            }
            if rows.is_empty() {
                w.write_record(domain::registry::Column::ALL.iter().map(|c| c.as_str()))?;
            }
            w.flush()?;
            if let Some(p) = output {
                eprintln!("exported {} orgs to {}", rows.len(), p.display());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn import(config: Config, args: ImportArgs, format: Format) -> anyhow::Result<ExitCode> {
    let ImportArgs {
        file,
        skip_invalid,
        dry_run,
    } = args;
    let name = file.display().to_string();
    let input = std::fs::File::open(&file).with_context(|| format!("cannot read {name}"))?;
    let len = input.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = Bar::new();
    bar.start("reading", len);
    let parsed = match domain::registry::parse_csv(
        std::io::BufReader::new(input),
        &name,
        &config.salesforce.extra_login_hosts,
        |pos| bar.set(pos),
    ) {
        Ok(p) => p,
        Err(header) => {
            bar.finish();
            eprintln!("{header}");
            eprintln!("error: {name} was not imported: fix the header row");
            return Ok(ExitCode::FAILURE);
        }
    };
    bar.finish();
    let mut stderr = std::io::stderr().lock();
    for e in &parsed.errors {
        writeln!(stderr, "{e}")?;
    }
    drop(stderr);
    let bad_lines: std::collections::BTreeSet<u64> = parsed.errors.iter().map(|e| e.line).collect();
    if !bad_lines.is_empty() && !skip_invalid {
        let bad = count(bad_lines.len() as u64, "invalid row");
        match parsed.rows.len() {
            0 => eprintln!("error: {bad} in {name} and no valid one; nothing was written"),
            valid => eprintln!(
                "error: {bad} in {name}; nothing was written (use --skip-invalid to import the other {})",
                count(valid as u64, "row")
            ),
        }
        return Ok(ExitCode::FAILURE);
    }

    // A dry run writes nothing, not even a new database file: against a file that does not
    // exist yet it plans against an empty database in memory.
    let db = if dry_run && super::db::sqlite_file_missing(&config) {
        super::db::empty_in_memory().await?
    } else {
        super::db::open(&config, super::db::IfMissing::Create).await?
    };
    let plan = domain::registry::plan_import(&db, &name, parsed).await?;
    if dry_run {
        let report = plan.report();
        if format == Format::Json {
            println!(
                "{}",
                serde_json::to_string_pretty(
                    &serde_json::json!({ "dry_run": true, "report": report, "skipped_rows": bad_lines.len() })
                )?
            );
        } else {
            for a in &plan.actions {
                match a {
                    Planned::Create(r) => println!("would create {} {}", r.org_id, r.name),
                    Planned::Update(r, changes) => {
                        for c in changes {
                            println!(
                                "would update {} {}: {} → {}",
                                r.org_id,
                                c.field,
                                c.old.as_deref().unwrap_or("(none)"),
                                c.new.as_deref().unwrap_or("(none)")
                            );
                        }
                    }
                }
            }
            println!(
                "dry run: would create {}, update {}, leave {} unchanged{}; nothing was written",
                report.created,
                report.updated,
                report.unchanged,
                waves_note(&report.new_waves, "would create")
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let report =
        domain::registry::apply_plan(&db, plan, &super::cli_actor(), chrono::Utc::now(), &bar)
            .await?;
    if format == Format::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "report": report, "skipped_rows": bad_lines.len() })
            )?
        );
    } else {
        println!(
            "imported {name}: created {}, updated {}, unchanged {}{}{}",
            report.created,
            report.updated,
            report.unchanged,
            waves_note(&report.new_waves, "created"),
            if bad_lines.is_empty() {
                String::new()
            } else {
                format!("; skipped {}", count(bad_lines.len() as u64, "invalid row"))
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn waves_note(waves: &[String], verb: &str) -> String {
    if waves.is_empty() {
        String::new()
    } else {
        let noun = if waves.len() == 1 { "wave" } else { "waves" };
        format!("; {verb} {noun} {} without a deadline", waves.join(", "))
    }
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
pub(crate) struct Bar(Option<ProgressBar>);

impl Bar {
    pub(crate) fn new() -> Self {
        Self(std::io::stderr().is_terminal().then(|| {
            let b = ProgressBar::hidden();
            b.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            b
        }))
    }

    fn set(&self, pos: u64) {
        if let Some(b) = &self.0 {
            b.set_position(pos);
        }
    }
}

impl Progress for Bar {
    fn start(&self, phase: &str, len: u64) {
        if let Some(b) = &self.0 {
            b.reset();
            b.set_length(len);
            b.set_style(
                ProgressStyle::with_template("{msg:8} [{bar:40}] {pos}/{len} ({eta})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            b.set_message(phase.to_owned());
        }
    }

    fn advance(&self, n: u64) {
        if let Some(b) = &self.0 {
            b.inc(n);
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}
