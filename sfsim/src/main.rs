//! `sfsim`: run the Salesforce simulator standalone.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// A faithful Salesforce OAuth 2.0 and REST simulator with fault injection.
#[derive(Debug, Parser)]
#[command(name = "sfsim", version, about)]
struct Args {
    /// TOML configuration (default: the built-in dataset).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:4010")]
    bind: SocketAddr,
    /// Add an allowed callback to every client (repeatable).
    #[arg(long)]
    redirect_uri: Vec<String>,
    /// With `login_hint=USERNAME`, redirect straight back with a code.
    #[arg(long)]
    auto_approve: bool,
    /// A fixed delay on every OAuth and REST answer, e.g. `50ms`.
    #[arg(long, value_parser = humantime::parse_duration)]
    latency: Option<Duration>,
    /// Print the effective configuration as TOML (secrets included) and exit.
    #[arg(long)]
    print_config: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut config = match &args.config {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))?;
            sfsim::Config::from_toml_str(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?
        }
        None => sfsim::Config::default_dataset(),
    };
    for uri in &args.redirect_uri {
        config = config.with_redirect_uri(uri);
    }
    if args.auto_approve {
        config.settings.auto_approve = true;
    }
    if args.latency.is_some() {
        config.faults.latency = args.latency;
    }
    if args.print_config {
        print!("{}", config.to_toml());
        return Ok(());
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let sim = sfsim::Sim::start(config, args.bind).await?;
    eprintln!("sfsim listening on {}", sim.base_url());
    tokio::signal::ctrl_c().await?;
    sim.shutdown().await;
    Ok(())
}
