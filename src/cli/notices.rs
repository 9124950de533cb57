//! `notices list|preview`.

use std::process::ExitCode;

use clap::Subcommand;
use domain::config::Config;
use domain::types::OrgId;

use super::output::{Format, opt, print_rows};

#[derive(Debug, Subcommand)]
pub enum NoticesCommand {
    /// List notices (the outbox), newest first.
    List {
        #[arg(long, value_parser = OrgId::parse)]
        org: Option<OrgId>,
        #[arg(long, default_value_t = 100)]
        limit: u64,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Render the mail a step would send to an org, without sending it.
    Preview {
        #[arg(value_parser = OrgId::parse)]
        org_id: OrgId,
        /// The kind of notice: announce, remind, final, escalate, confirmation, fresh_link, link
        /// or reauth_needed.
        #[arg(value_parser = parse_kind)]
        step: domain::campaign::notices::NoticeKind,
        /// Print the HTML part instead of the plain text.
        #[arg(long)]
        html: bool,
    },
}

pub async fn run(config: Config, cmd: NoticesCommand) -> anyhow::Result<ExitCode> {
    super::init_tracing("warn");
    let db = super::db::open(&config, super::db::IfMissing::Refuse).await?;
    match cmd {
        NoticesCommand::List { org, limit, format } => {
            let notices = domain::campaign::notices::list(&db, org.as_ref(), limit).await?;
            print_rows(
                format,
                &notices,
                &[
                    ("id", &|n| n.id.to_string()),
                    ("org_id", &|n| n.org_id.to_string()),
                    ("kind", &|n| n.kind.to_string()),
                    ("step", &|n| opt(&n.step)),
                    ("status", &|n| n.status.to_string()),
                    ("recipient", &|n| opt(&n.recipient)),
                    ("scheduled_at", &|n| n.scheduled_at.to_rfc3339()),
                    ("sent_at", &|n| {
                        n.sent_at.map(|t| t.to_rfc3339()).unwrap_or_default()
                    }),
                    ("attempts", &|n| n.attempts.to_string()),
                    ("last_error", &|n| opt(&n.last_error)),
                ],
            )?;
        }
        NoticesCommand::Preview { org_id, step, html } => {
            let r = domain::campaign::notices::preview(&db, &config, &org_id, step).await?;
            println!("Subject: {}\n", r.subject);
            println!("{}", if html { r.html } else { r.text });
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A notice kind from the command line, or the list of kinds.
fn parse_kind(s: &str) -> Result<domain::campaign::notices::NoticeKind, String> {
    use domain::campaign::notices::NoticeKind;
    NoticeKind::parse(s).ok_or_else(|| {
        let all: Vec<&str> = NoticeKind::ALL.iter().map(|k| k.as_str()).collect();
        format!(
            "unknown notice kind `{s}` (expected one of: {})",
            all.join(", ")
        )
    })
}
