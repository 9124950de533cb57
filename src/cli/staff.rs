//! `staff add|list|reset|disable|enable|role`.

use std::io::Read as _;
use std::process::ExitCode;

use clap::Subcommand;
use domain::config::Config;
use domain::staff::{AdminChange, ChangedBy, Role};
use domain::types::Email;
use secrecy::{ExposeSecret, SecretString};

use super::output::{Format, print_rows};

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
    /// List staff users (never passwords or secrets).
    List {
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Reset a password (prints a one-time password; also unlocks the account) and/or the
    /// second factor (the user sets up TOTP again at next sign-in). The way back in when the
    /// last admin lost their phone and recovery codes.
    Reset {
        #[arg(value_parser = Email::parse)]
        email: Email,
        #[arg(long)]
        password: bool,
        #[arg(long)]
        two_factor: bool,
    },
    /// Disable a staff user (their sessions end at once).
    Disable {
        #[arg(value_parser = Email::parse)]
        email: Email,
    },
    /// Enable a disabled staff user.
    Enable {
        #[arg(value_parser = Email::parse)]
        email: Email,
    },
    /// Change a staff user's role.
    Role {
        #[arg(value_parser = Email::parse)]
        email: Email,
        #[arg(long, value_parser = ["viewer", "operator", "admin"])]
        role: String,
    },
}

async fn user_id(db: &sea_orm::DatabaseConnection, email: &Email) -> anyhow::Result<i64> {
    Ok(domain::staff::find_by_email(db, email.as_str())
        .await?
        .ok_or_else(|| anyhow::anyhow!("no staff user {email}"))?
        .id)
}

async fn change(
    config: &Config,
    email: &Email,
    changes: &[AdminChange],
) -> anyhow::Result<ExitCode> {
    let db = super::db::open(config, super::db::IfMissing::Refuse).await?;
    let id = user_id(&db, email).await?;
    let by = ChangedBy::Cli(super::cli_actor());
    let mut password = None;
    for c in changes {
        if let Some(p) = domain::staff::admin_change(&db, id, c, &by, chrono::Utc::now()).await? {
            password = Some(p);
        }
        eprintln!("{email}: {c:?} done");
    }
    if let Some(p) = password {
        println!("{}", p.expose_secret());
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn run(config: Config, cmd: StaffCommand) -> anyhow::Result<ExitCode> {
    super::init_tracing("warn");
    let (email, role, password_stdin) = match cmd {
        StaffCommand::Add {
            email,
            role,
            password_stdin,
        } => (email, role, password_stdin),
        StaffCommand::List { format } => return list(&config, format).await,
        StaffCommand::Reset {
            email,
            password,
            two_factor,
        } => {
            let mut changes = Vec::new();
            if password {
                changes.push(AdminChange::ResetPassword);
            }
            if two_factor {
                changes.push(AdminChange::ResetTwoFactor);
            }
            if changes.is_empty() {
                anyhow::bail!("say what to reset: --password, --two-factor, or both");
            }
            return change(&config, &email, &changes).await;
        }
        StaffCommand::Disable { email } => {
            return change(&config, &email, &[AdminChange::Disable]).await;
        }
        StaffCommand::Enable { email } => {
            return change(&config, &email, &[AdminChange::Enable]).await;
        }
        StaffCommand::Role { email, role } => {
            let role = Role::parse(&role)
                .ok_or_else(|| anyhow::anyhow!("--role must be viewer, operator or admin"))?;
            return change(&config, &email, &[AdminChange::SetRole(role)]).await;
        }
    };
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
    let db = super::db::open(&config, super::db::IfMissing::Create).await?;
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

/// A staff user as listed (never the password hash or TOTP secret).
#[derive(serde::Serialize)]
struct StaffRow {
    email: String,
    role: String,
    two_factor: bool,
    recovery_codes_left: usize,
    locked: bool,
    disabled: bool,
    last_login_at: Option<chrono::DateTime<chrono::Utc>>,
}

async fn list(config: &Config, format: Format) -> anyhow::Result<ExitCode> {
    let db = super::db::open(config, super::db::IfMissing::Refuse).await?;
    let now = chrono::Utc::now();
    let rows: Vec<StaffRow> = domain::staff::list(&db)
        .await?
        .into_iter()
        .map(|u| StaffRow {
            two_factor: u.totp_enrolled_at.is_some(),
            recovery_codes_left: domain::staff::recovery_codes_left(&u),
            locked: domain::staff::locked(&u, now).is_some(),
            disabled: u.disabled_at.is_some(),
            last_login_at: u.last_login_at,
            email: u.email,
            role: u.role.as_str().to_owned(),
        })
        .collect();
    print_rows(
        format,
        &rows,
        &[
            ("email", &|u| u.email.clone()),
            ("role", &|u| u.role.clone()),
            ("two_factor", &|u| u.two_factor.to_string()),
            ("recovery_codes_left", &|u| {
                u.recovery_codes_left.to_string()
            }),
            ("locked", &|u| u.locked.to_string()),
            ("disabled", &|u| u.disabled.to_string()),
            ("last_login_at", &|u| {
                u.last_login_at.map(|t| t.to_rfc3339()).unwrap_or_default()
            }),
        ],
    )?;
    Ok(ExitCode::SUCCESS)
}
