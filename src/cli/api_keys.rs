//! `api-keys create|list|revoke`.

use std::process::ExitCode;

use clap::Subcommand;
use domain::config::Config;
use secrecy::ExposeSecret;

use domain::security::api_keys::ApiScope;

use super::output::{Format, print_rows};

fn parse_scope(s: &str) -> Result<ApiScope, String> {
    ApiScope::parse(s).ok_or_else(|| {
        let all: Vec<_> = ApiScope::ALL.iter().map(|s| s.as_str()).collect();
        format!("unknown scope `{s}` (the scopes are {})", all.join(", "))
    })
}

#[derive(Debug, Subcommand)]
pub enum ApiKeysCommand {
    /// Create a key for the token API; prints it once (alone, on the last line of stdout).
    Create {
        #[arg(long)]
        name: String,
        /// What the key may do, repeatable: `tokens:read` (get access tokens; the default) or
        /// `legacy:write` (import legacy tokens through `POST /api/v1/legacy-connections`).
        #[arg(long = "scope", value_parser = parse_scope)]
        scopes: Vec<ApiScope>,
    },
    /// List keys (never the secrets).
    List {
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Revoke a key by id.
    Revoke { id: i64 },
}

pub async fn run(config: Config, cmd: ApiKeysCommand) -> anyhow::Result<ExitCode> {
    super::init_tracing("warn");
    // Creating a key may set a database up; listing and revoking need the existing one.
    let missing = if matches!(cmd, ApiKeysCommand::Create { .. }) {
        super::db::IfMissing::Create
    } else {
        super::db::IfMissing::Refuse
    };
    let db = super::db::open(&config, missing).await?;
    let now = chrono::Utc::now();
    match cmd {
        ApiKeysCommand::Create { name, scopes } => {
            let scopes = if scopes.is_empty() {
                vec![ApiScope::TokensRead]
            } else {
                scopes
            };
            let (key, model) = domain::security::api_keys::create_with_scopes(
                &db,
                &name,
                &scopes,
                &super::cli_actor(),
                now,
            )
            .await?;
            eprintln!(
                "API key {} \"{}\" ({}) created; it is shown only now",
                model.id, model.name, model.scopes
            );
            println!("{}", key.expose_secret());
        }
        ApiKeysCommand::List { format } => {
            let keys = domain::security::api_keys::list(&db).await?;
            let ts = |t: &Option<chrono::DateTime<chrono::Utc>>| {
                t.map(|t| t.to_rfc3339()).unwrap_or_default()
            };
            print_rows(
                format,
                &keys,
                &[
                    ("id", &|k| k.id.to_string()),
                    ("name", &|k| k.name.clone()),
                    ("prefix", &|k| k.prefix.clone()),
                    ("scopes", &|k| k.scopes.clone()),
                    ("created_at", &|k| k.created_at.to_rfc3339()),
                    ("last_used_at", &|k| ts(&k.last_used_at)),
                    ("revoked_at", &|k| ts(&k.revoked_at)),
                ],
            )?;
        }
        ApiKeysCommand::Revoke { id } => {
            domain::security::api_keys::revoke(&db, id, &super::cli_actor(), now).await?;
            eprintln!("API key {id} revoked");
        }
    }
    Ok(ExitCode::SUCCESS)
}
