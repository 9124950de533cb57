//! `staff add`.

use std::io::Read as _;
use std::process::ExitCode;

use clap::Subcommand;
use domain::config::Config;
use domain::staff::Role;
use domain::types::Email;
use secrecy::{ExposeSecret, SecretString};

#[derive(Debug, Subcommand)]
pub enum StaffCommand {
    /// Add a staff user; prints a one-time password (alone, on the last line of stdout).
    Add {
        #[arg(value_parser = Email::parse)]
        email: Email,
        #[arg(long, value_parser = ["viewer", "operator", "admin"])]
        role: String,
        /// Read the initial password from stdin instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
}

pub async fn run(config: Config, cmd: StaffCommand) -> anyhow::Result<ExitCode> {
    super::init_tracing("warn");
    let StaffCommand::Add {
        email,
        role,
        password_stdin,
    } = cmd;
    let role = Role::parse(&role)
        .ok_or_else(|| anyhow::anyhow!("--role must be viewer, operator or admin"))?;
    let password = if password_stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        let s = s.trim_end_matches(['\r', '\n']).to_owned();
        if s.chars().count() < 12 {
            anyhow::bail!("the password from stdin must have at least 12 characters");
        }
        SecretString::from(s)
    } else {
        domain::staff::one_time_password()
    };
    let db = domain::db::open(&config.database_url).await?;
    domain::staff::add(
        &db,
        &email,
        role,
        &password,
        &super::cli_actor(),
        chrono::Utc::now(),
    )
    .await?;
    eprintln!(
        "staff user {email} added as {}; the password must be changed at first sign-in",
        role.as_str()
    );
    if !password_stdin {
        println!("{}", password.expose_secret());
    }
    Ok(ExitCode::SUCCESS)
}
