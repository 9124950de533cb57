//! `links create|list|revoke`.

use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use domain::config::Config;
use domain::reconsent::links::NewLink;
use domain::types::{Email, OrgId};

use super::output::{Format, print_rows};

#[derive(Debug, Subcommand)]
pub enum LinksCommand {
    /// Mint a re-auth link for an org and print its URL (alone, on the last line of stdout).
    Create {
        #[arg(value_parser = OrgId::parse)]
        org_id: OrgId,
        /// A contact on file (default: the primary contact).
        #[arg(long, value_parser = Email::parse)]
        contact: Option<Email>,
        /// Lifetime (default: links.ttl, 14d).
        #[arg(long, value_parser = humantime::parse_duration)]
        ttl: Option<Duration>,
    },
    /// List an org's links (never their secrets).
    List {
        #[arg(value_parser = OrgId::parse)]
        org_id: OrgId,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Revoke a link by id.
    Revoke { link_id: i64 },
}

pub async fn run(config: Config, cmd: LinksCommand) -> anyhow::Result<ExitCode> {
    super::init_tracing("warn");
    let db = super::db::open(&config, super::db::IfMissing::Refuse).await?;
    let now = chrono::Utc::now();
    match cmd {
        LinksCommand::Create {
            org_id,
            contact,
            ttl,
        } => {
            let ttl = ttl.unwrap_or(config.links.ttl);
            let new = NewLink {
                org_id: &org_id,
                contact: contact.as_ref(),
                ttl,
                notice_id: None,
            };
            let (secret, link) =
                domain::reconsent::links::create(&db, new, &super::cli_actor(), now).await?;
            eprintln!(
                "link {} for {org_id}, valid until {}",
                link.id,
                link.expires_at.to_rfc3339()
            );
            println!("{}", secret.url(&config.base_url));
        }
        LinksCommand::List { org_id, format } => {
            let links = domain::reconsent::links::list_for_org(&db, &org_id).await?;
            let ts = |t: &Option<chrono::DateTime<chrono::Utc>>| {
                t.map(|t| t.to_rfc3339()).unwrap_or_default()
            };
            print_rows(
                format,
                &links,
                &[
                    ("id", &|l| l.id.to_string()),
                    ("created_at", &|l| l.created_at.to_rfc3339()),
                    ("expires_at", &|l| l.expires_at.to_rfc3339()),
                    ("opened", &|l| l.open_count.to_string()),
                    ("used_at", &|l| ts(&l.used_at)),
                    ("revoked_at", &|l| ts(&l.revoked_at)),
                    ("created_by", &|l| l.created_by.clone()),
                ],
            )?;
        }
        LinksCommand::Revoke { link_id } => {
            domain::reconsent::links::revoke(&db, link_id, &super::cli_actor(), now).await?;
            eprintln!("link {link_id} revoked");
        }
    }
    Ok(ExitCode::SUCCESS)
}
