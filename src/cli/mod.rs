//! The command line: argument types and dispatch. One module a command group, each a few lines
//! over one domain call:
//!
//! | module | commands |
//! |---|---|
//! | `run` | `serve`, `worker`, `migrate` (the roles a process runs) |
//! | `demo` | `demo`: everything in one process on a fresh SQLite file |
//! | `orgs`, `waves`, `notices`, `links`, `events` | the registry, waves, notices, re-auth links, the audit trail |
//! | `legacy` | the cut-over from the legacy Connected App |
//! | `staff`, `api_keys` | staff users; the token API's keys |
//! | `keys`, `secrets`, `egress`, `ip_ranges` | encryption keys, client secrets, the egress address and ranges |
//! | `incident` | incidents and the breaker |
//! | `audit`, `compliance`, `doctor` | the metadata audit, the compliance report, the monitor's calibration |
//! | `config_cmd` | `config check` |
//! | `db`, `output` | opening the database (and saying when it is the wrong one); tables, JSON, CSV |

mod api_keys;
mod audit;
mod compliance;
mod config_cmd;
mod db;
mod demo;
mod doctor;
mod egress;
mod events;
mod incident;
mod ip_ranges;
mod keys;
mod legacy;
mod links;
mod notices;
mod orgs;
mod output;
mod run;
mod secrets;
mod staff;
mod waves;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use domain::config::{Config, LoadOptions};

/// reauth runs a Salesforce partner's re-consent rollout to its packaged External Client App,
/// then owns every refresh token so none idles out or is used twice.
#[derive(Debug, Parser)]
#[command(name = "reauth", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file (default: ./reauth.toml when present). REAUTH_… variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// What every import (`orgs import`, `legacy import`) takes: the file, and whether to skip the
/// rows that do not read or to write nothing at all.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    pub file: PathBuf,
    /// Import the valid rows and report the invalid ones (default: all or nothing).
    #[arg(long)]
    pub skip_invalid: bool,
    /// Check everything and say what would change, without writing anything.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web server (and, unless --no-worker, the background jobs).
    Serve {
        /// Serve only; run jobs in separate `reauth worker` processes.
        #[arg(long)]
        no_worker: bool,
    },
    /// Run the background jobs only (scale-out).
    Worker,
    /// Everything in one process with a simulated Salesforce, seeded orgs and links to click.
    Demo(demo::DemoArgs),
    /// Apply database migrations.
    Migrate,
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage the org registry.
    #[command(subcommand)]
    Orgs(orgs::OrgsCommand),
    /// Read the audit trail.
    #[command(subcommand)]
    Events(events::EventsCommand),
    /// Re-auth links.
    #[command(subcommand)]
    Links(links::LinksCommand),
    /// Encryption keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Staff users.
    #[command(subcommand)]
    Staff(staff::StaffCommand),
    /// The notice outbox.
    #[command(subcommand)]
    Notices(notices::NoticesCommand),
    /// Rollout waves.
    #[command(subcommand)]
    Waves(waves::WavesCommand),
    /// Keys for the token API.
    #[command(subcommand, name = "api-keys")]
    ApiKeys(api_keys::ApiKeysCommand),
    /// Client secrets: which one Salesforce accepts, and whether rotation is due.
    #[command(subcommand)]
    Secrets(secrets::SecretsCommand),
    /// The breaker (and, when something is compromised, incident mode): status, resume.
    #[command(subcommand)]
    Incident(incident::IncidentCommand),
    /// The cut-over from the legacy Connected App: import, activate, retire, report.
    #[command(subcommand)]
    Legacy(legacy::LegacyCommand),
    /// Compliance checks (`audit metadata PATH` lints the apps' Salesforce metadata; the audit
    /// trail of events is `events list`).
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// The compliance report: evidence from what reauth did, for a Security Review submission.
    #[command(subcommand)]
    Compliance(compliance::ComplianceCommand),
    /// Read one org's LoginHistory as the token-use monitor does and print what Salesforce
    /// recorded for reauth's exchanges (confirms the monitor's calibration on a real org).
    Doctor(doctor::DoctorArgs),
    /// Where reauth's calls to Salesforce come from.
    #[command(subcommand)]
    Egress(egress::EgressCommand),
    /// The published egress ranges.
    #[command(subcommand, name = "ip-ranges")]
    IpRanges(ip_ranges::IpRangesCommand),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and print the effective values, secrets redacted.
    Check,
}

/// Runs one command; `Ok(code)` carries non-error exit codes such as "import refused".
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Command::Config(ConfigCommand::Check) = cli.command {
        // It reports the configuration's problems itself, one per line.
        return config_cmd::check(cli.config);
    }
    let config = load_config(cli.config.clone())?;
    let database_url = config.database_url.clone();
    let result = match cli.command {
        Command::Serve { no_worker } => run::serve(config, !no_worker).await,
        Command::Worker => run::worker(config).await,
        Command::Migrate => run::migrate(config).await,
        Command::Config(ConfigCommand::Check) => config_cmd::check(cli.config),
        Command::Orgs(cmd) => orgs::run(config, cmd).await,
        Command::Events(cmd) => events::run(config, cmd).await,
        Command::Links(cmd) => links::run(config, cmd).await,
        Command::Keys(cmd) => keys::run(config, cmd).await,
        Command::Staff(cmd) => staff::run(config, cmd).await,
        Command::ApiKeys(cmd) => api_keys::run(config, cmd).await,
        Command::Waves(cmd) => waves::run(config, cmd).await,
        Command::Notices(cmd) => notices::run(config, cmd).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Audit(cmd) => audit::run(config, cmd).await,
        Command::Compliance(cmd) => compliance::run(config, cmd).await,
        Command::Doctor(args) => doctor::run(config, args).await,
        Command::Egress(cmd) => egress::run(config, cmd).await,
        Command::IpRanges(cmd) => ip_ranges::run(&config, cmd),
        Command::Legacy(cmd) => legacy::run(config, cmd).await,
        Command::Secrets(cmd) => secrets::run(config, cmd).await,
        Command::Incident(cmd) => incident::run(config, cmd).await,
    };
    match result {
        Err(e) => Err(db::explain_unknown_org(e, &database_url).await),
        ok => ok,
    }
}

fn load_config(path: Option<PathBuf>) -> anyhow::Result<Config> {
    let env = std::env::vars().collect();
    let (config, warnings) = domain::config::load(&LoadOptions { path, env })?;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    Ok(config)
}

/// Sets up logging to stderr; `RUST_LOG` overrides the default level.
pub(crate) fn init_tracing(default: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _already = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(log_colours())
        .try_init();
}

/// Sets up logging to stderr at `quiet` until the returned function is called, then at
/// `default` (both overridden by `RUST_LOG`, which then holds throughout): start-up noise stays
/// out of the way of what a command prints once it is up.
pub(crate) fn init_tracing_quiet_start(quiet: &str, default: &str) -> impl FnOnce() {
    use tracing_subscriber::EnvFilter;
    let from_env = EnvFilter::try_from_default_env().ok();
    let fixed = from_env.is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(from_env.unwrap_or_else(|| EnvFilter::new(quiet)))
        .with_writer(std::io::stderr)
        .with_ansi(log_colours())
        .with_filter_reloading();
    let handle = builder.reload_handle();
    let _already = builder.try_init();
    let default = default.to_owned();
    move || {
        if !fixed && let Err(e) = handle.reload(EnvFilter::new(&default)) {
            eprintln!("warning: cannot change the log level: {e}");
        }
    }
}

/// Colours only for a person at a terminal: never into files or pipes, and not with `NO_COLOR`.
#[expect(
    clippy::disallowed_methods,
    reason = "NO_COLOR is the terminal's convention, read before any configuration is"
)]
fn log_colours() -> bool {
    use std::io::IsTerminal as _;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Who is acting, for the audit trail of CLI commands.
#[expect(
    clippy::disallowed_methods,
    reason = "the operating-system user who runs the command is who acts, not configuration"
)]
pub(crate) fn cli_actor() -> domain::events::Actor {
    domain::events::Actor::cli_user(std::env::var("USER").ok().filter(|u| !u.is_empty()))
}
