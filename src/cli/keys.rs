//! `keys rotate|generate`.

use std::process::ExitCode;

use clap::Subcommand;
use domain::config::Config;
use domain::security::crypto::Sealer;
use secrecy::ExposeSecret;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Re-encrypt every stored secret under the newest key in crypto.keys (safe while running).
    Rotate,
    /// Print a new random key line (`id:BASE64`) to append to crypto.keys.
    Generate {
        /// The new key's id.
        #[arg(long, default_value = "k1")]
        id: String,
    },
}

pub async fn run(config: Config, cmd: KeysCommand) -> anyhow::Result<ExitCode> {
    super::init_tracing("warn");
    match cmd {
        KeysCommand::Generate { id } => {
            println!("{}", Sealer::generate_key(&id).expose_secret());
        }
        KeysCommand::Rotate => {
            let sealer = Sealer::from_config(&config.crypto)?;
            let db = super::db::open(&config, super::db::IfMissing::Refuse).await?;
            let report = domain::security::keys::rotate(&db, &sealer).await?;
            println!(
                "re-encrypted {} connection(s), {} notice(s) and {} staff two-factor secret(s) under key `{}`",
                report.connections,
                report.notices,
                report.staff_users,
                sealer.newest_key_id(),
            );
            if report.raced > 0 {
                eprintln!(
                    "{} row(s) changed during rotation and were retried",
                    report.raced
                );
            }
            if report.left_leased > 0 {
                eprintln!(
                    "{} connection(s) were being refreshed the whole time and are not re-encrypted yet; run `reauth keys rotate` again (do not remove the old key until it reports none)",
                    report.left_leased
                );
                return Ok(ExitCode::from(3));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
