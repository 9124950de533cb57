//! `legacy import|activate|accept|retire|report`: the cut-over from the legacy Connected App.

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use domain::config::Config;
use domain::legacy::import::{self, Format as FileFormat, Options};
use domain::legacy::{activate, report, retire};
use domain::types::OrgId;
use domain::vault::Vault;

use super::ImportArgs;
use super::output::{Format, print_rows};

#[derive(Debug, Subcommand)]
pub enum LegacyCommand {
    /// Import the partner's legacy tokens (CSV or JSON lines), sealed and held: reauth never
    /// exchanges a held token, so the partner's services can keep refreshing it.
    Import {
        #[command(flatten)]
        args: ImportArgs,
        /// Create orgs the registry does not know, named by their id.
        #[arg(long)]
        create_orgs: bool,
        /// Replace legacy connections reauth has exchanged since their activation.
        #[arg(long)]
        force: bool,
        /// Hand each imported connection to reauth at once.
        #[arg(long)]
        activate: bool,
    },
    /// Hand held legacy connections to reauth, at the moment your services switch to the token
    /// API. From then on reauth is their only refresher.
    Activate {
        orgs: Vec<String>,
        /// Every held legacy connection.
        #[arg(long, conflicts_with = "orgs")]
        all: bool,
        /// Make the first exchange now: checks whose token it is and reports dead ones.
        #[arg(long)]
        verify: bool,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Serve an org's standby External Client App connection (consented by another user than
    /// the legacy one) and leave the legacy connection to retirement.
    Accept { org: String },
    /// Retire legacy connections by hand: out of service, caches invalidated, then revoked.
    Retire {
        orgs: Vec<String>,
        /// Do not wait for `legacy.retire_after` (a working External Client App connection is
        /// still required).
        #[arg(long)]
        now: bool,
        #[arg(long)]
        dry_run: bool,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Can the legacy Connected App be removed from the package yet?
    Report {
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

fn parse_orgs(raw: &[String]) -> anyhow::Result<Vec<OrgId>> {
    raw.iter()
        .map(|s| OrgId::parse(s).map_err(|e| anyhow::anyhow!("`{s}`: {e}")))
        .collect()
}

async fn vault(config: Config, db: sea_orm::DatabaseConnection) -> anyhow::Result<Vault> {
    let process = domain::process::ProcessId::new("cli");
    Vault::from_config(
        db,
        Arc::new(config),
        domain::time::Clock::system(),
        process.as_str(),
    )?
    .context("the vault needs salesforce.client_id and crypto.keys")
}

pub async fn run(config: Config, cmd: LegacyCommand) -> anyhow::Result<ExitCode> {
    super::init_tracing("warn");
    let db = super::db::open(&config, super::db::IfMissing::Refuse).await?;
    let actor = super::cli_actor();
    match cmd {
        LegacyCommand::Import {
            args:
                ImportArgs {
                    file,
                    skip_invalid,
                    dry_run,
                },
            create_orgs,
            force,
            activate,
        } => {
            let name = file.display().to_string();
            let f = std::fs::File::open(&file).with_context(|| format!("cannot open {name}"))?;
            let extra = config.salesforce.extra_login_hosts.clone();
            if !dry_run && config.legacy.client_id().is_none() {
                eprintln!(
                    "warning: legacy.client_id is not set: the tokens are stored held, but reauth cannot refresh them until it is"
                );
            }
            let vault = vault(config, db).await?;
            let parsed = import::parse(
                std::io::BufReader::new(f),
                FileFormat::of_path(&name),
                &name,
                &extra,
            );
            let opts = Options {
                skip_invalid,
                dry_run,
                create_orgs,
                force,
                activate,
            };
            // The lines of the rows that read well, to tell how many would import once the
            // problems are fixed or skipped (the import may refuse some of them too).
            let row_lines: Vec<u64> = parsed.rows.iter().map(|r| r.line).collect();
            let bar = super::orgs::Bar::new();
            match import::import(&vault, &name, parsed, opts, &actor, &bar).await? {
                Ok(r) => {
                    let verb = if r.dry_run {
                        "would import"
                    } else {
                        "imported"
                    };
                    eprintln!(
                        "{verb} {} ({} replacing a held one, {} orgs created, {} activated, {} rows skipped)",
                        domain::wording::count(r.imported as u64, "legacy connection"),
                        r.replaced,
                        r.created_orgs,
                        r.activated,
                        r.skipped
                    );
                    vault.drain(vault.drain_timeout()).await;
                    Ok(ExitCode::SUCCESS)
                }
                Err(errors) => {
                    for e in &errors {
                        eprintln!("{e}");
                    }
                    let problems = domain::wording::count(errors.len() as u64, "problem");
                    let them = if errors.len() == 1 { "it" } else { "them" };
                    let bad: std::collections::BTreeSet<u64> =
                        errors.iter().map(|e| e.line).collect();
                    match row_lines.iter().filter(|l| !bad.contains(l)).count() {
                        0 => {
                            eprintln!("nothing imported: {problems} and no valid row (fix {them})")
                        }
                        valid => eprintln!(
                            "nothing imported: {problems} (fix {them}, or pass --skip-invalid to import the other {})",
                            domain::wording::count(valid as u64, "row")
                        ),
                    }
                    Ok(ExitCode::from(2))
                }
            }
        }
        LegacyCommand::Activate {
            orgs,
            all,
            verify,
            format,
        } => {
            let orgs = if all {
                domain::legacy::activate::held_orgs(&db).await?
            } else {
                if orgs.is_empty() {
                    bail!("name the orgs to activate, or pass --all");
                }
                parse_orgs(&orgs)?
            };
            let vault = vault(config, db).await?;
            let mut rows = Vec::new();
            let mut failed = false;
            for org in &orgs {
                let (result, detail) = match activate::activate(&vault, org, verify, &actor).await?
                {
                    Ok(activate::Activated::Active { verified, .. }) => (
                        "active",
                        if verified {
                            "first exchange worked".to_owned()
                        } else {
                            "reauth refreshes it from now on".to_owned()
                        },
                    ),
                    Ok(activate::Activated::Dead { reason, .. }) => {
                        failed = true;
                        ("dead", reason)
                    }
                    Ok(activate::Activated::Mismatch { reason, .. }) => {
                        failed = true;
                        ("quarantined", reason)
                    }
                    Ok(activate::Activated::Unchecked { reason, .. }) => {
                        ("active", format!("not checked yet: {reason}"))
                    }
                    Err(e) => {
                        failed = true;
                        ("refused", e.reason)
                    }
                };
                rows.push(serde_json::json!({ "org_id": org, "result": result, "detail": detail }));
            }
            print_rows(
                format,
                &rows,
                &[
                    ("org_id", &|r| {
                        r["org_id"].as_str().unwrap_or_default().to_owned()
                    }),
                    ("result", &|r| {
                        r["result"].as_str().unwrap_or_default().to_owned()
                    }),
                    ("detail", &|r| {
                        r["detail"].as_str().unwrap_or_default().to_owned()
                    }),
                ],
            )?;
            vault.drain(vault.drain_timeout()).await;
            Ok(if failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        LegacyCommand::Accept { org } => {
            let org = OrgId::parse(&org).map_err(|e| anyhow::anyhow!("`{org}`: {e}"))?;
            let vault = vault(config, db).await?;
            match domain::legacy::activate::accept_new_user(&vault, &org, &actor).await? {
                Ok(id) => {
                    eprintln!(
                        "org {org}: connection {id} now serves; the legacy connection will be retired after legacy.retire_after"
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(why) => {
                    eprintln!("org {org}: {why}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        LegacyCommand::Retire {
            orgs,
            now,
            dry_run,
            format,
        } => {
            if orgs.is_empty() {
                bail!("name the orgs to retire");
            }
            let orgs = parse_orgs(&orgs)?;
            let vault = vault(config, db).await?;
            let out = retire::by_hand(&vault, &orgs, now, dry_run, &actor).await?;
            print_rows(
                format,
                &out,
                &[
                    ("org_id", &|r| r.org_id.to_string()),
                    ("result", &|r| r.result.to_owned()),
                    ("detail", &|r| r.detail.clone()),
                ],
            )?;
            Ok(if out.iter().any(|r| r.result == "refused") {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        LegacyCommand::Report { format } => {
            let r = report::readiness(&db).await?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&r)?),
                Format::Csv => print_still(format, &r.still_on_legacy)?,
                Format::Table => {
                    let colour = std::io::stdout().is_terminal();
                    for (b, n) in &r.counts {
                        println!("{:>8}  {}", n, b.label());
                    }
                    println!();
                    if !r.still_on_legacy.is_empty() {
                        println!("Still on the legacy app:");
                        print_still(format, &r.still_on_legacy)?;
                        println!();
                    }
                    let verdict = if colour && r.ready {
                        format!("\x1b[32m{}\x1b[0m", r.verdict)
                    } else if colour {
                        format!("\x1b[33m{}\x1b[0m", r.verdict)
                    } else {
                        r.verdict.clone()
                    };
                    println!("{verdict}");
                    println!("{}", r.warning);
                }
            }
            Ok(if r.ready {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

fn ts(t: &Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.to_rfc3339()).unwrap_or_default()
}

fn print_still(format: Format, rows: &[report::StillOnLegacy]) -> anyhow::Result<()> {
    print_rows(
        format,
        rows,
        &[
            ("org_id", &|r| r.org_id.to_string()),
            ("name", &|r| r.name.clone()),
            ("bucket", &|r| r.bucket.as_str().to_owned()),
            ("legacy_status", &|r| r.legacy_status.to_string()),
            ("wave", &|r| r.wave.clone().unwrap_or_default()),
            ("deadline", &|r| ts(&r.deadline)),
            ("csm_email", &|r| r.csm_email.clone().unwrap_or_default()),
            ("last_legacy_served", &|r| ts(&r.last_legacy_served)),
        ],
    )
}
