//! Opening the configured database from a command, and saying plainly when it is the wrong one.
//!
//! Opening an SQLite URL with `mode=rwc` creates the file, so a command run in the wrong
//! directory (or before `export REAUTH_DATABASE_URL=…`) would quietly make an empty database and
//! answer "unknown org". Commands that only read or change existing records therefore refuse a
//! database file that is not there; the ones that set a database up (`migrate`, `serve`,
//! `worker`, `orgs import`, `staff add`, `waves create`, `api-keys create`) may create it.

use std::path::Path;

use anyhow::Context as _;
use domain::config::{Config, redact_url};
use sea_orm::DatabaseConnection;

/// What a command does when the configured SQLite file does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IfMissing {
    /// Create and migrate it: the command sets a database up.
    Create,
    /// Refuse, saying which file was looked for and how to point at another.
    Refuse,
}

/// The file `reauth demo` seeds by default, named in hints.
pub(crate) const DEMO_DB: &str = "reauth-demo.db";

/// Connects to `config.database_url` and applies migrations, or refuses a missing SQLite file.
pub(crate) async fn open(
    config: &Config,
    missing: IfMissing,
) -> anyhow::Result<DatabaseConnection> {
    let url = config.database_url.as_str();
    if missing == IfMissing::Refuse
        && let Some(file) = domain::db::sqlite_file(url)
        && !file.exists()
    {
        anyhow::bail!("{}", missing_database(url, &file));
    }
    Ok(domain::db::open(url).await?)
}

/// The error for a database file that is not there: which file, and how to point at the right one.
fn missing_database(url: &str, file: &Path) -> String {
    let mut s = format!(
        "the database {} does not exist (database_url = \"{}\"); nothing was created.\n  \
         Create it with `reauth migrate` or `reauth orgs import FILE`, or point at an existing \
         database with REAUTH_DATABASE_URL or database_url in reauth.toml (or --config FILE).",
        file.display(),
        redact_url(url)
    );
    if file != Path::new(DEMO_DB) && Path::new(DEMO_DB).is_file() {
        s.push_str(&format!(
            "\n  The demo's database is here; to use it: {}",
            demo_export_line(Path::new(DEMO_DB), None)
        ));
    }
    s
}

/// The shell line that points every later command at a demo database (and, when the demo does not
/// listen on the default address, at its base URL, so links point at it).
pub(crate) fn demo_export_line(db: &Path, base_url: Option<&str>) -> String {
    let mut line = format!("export REAUTH_DATABASE_URL='{}'", demo_database_url(db));
    if let Some(base) = base_url {
        line.push_str(&format!(" REAUTH_BASE_URL='{base}'"));
    }
    line
}

/// The `database_url` of a demo database file.
pub(crate) fn demo_database_url(db: &Path) -> String {
    format!("sqlite://{}?mode=rwc", db.display())
}

/// `error` with a sentence about the database when it is an unknown org: an empty database
/// (the wrong one, most likely) or how to find the org in this one.
pub(crate) async fn explain_unknown_org(error: anyhow::Error, url: &str) -> anyhow::Error {
    let Some(domain::Error::UnknownOrg(org)) = error.downcast_ref::<domain::Error>() else {
        return error;
    };
    let org = org.clone();
    let counted = async {
        let db = domain::db::connect(url).await?;
        let n = domain::registry::count(&db, &domain::registry::ListFilter::default()).await;
        db.close().await.ok();
        n
    };
    let where_ = redact_url(url);
    match counted.await {
        Ok(0) => anyhow::anyhow!(
            "no org {org}: the database {where_} has no orgs at all.\n  \
             Import them with `reauth orgs import FILE`, or point at the database that has them \
             with REAUTH_DATABASE_URL or database_url in reauth.toml (after `reauth demo`, run \
             the command in the demo's directory)."
        ),
        Ok(n) => anyhow::anyhow!(
            "no org {org} among the {} in {where_}; `reauth orgs list --search TEXT` finds one by \
             name or id",
            domain::wording::count(n, "org")
        ),
        Err(_) => error.context(format!("in the database {where_}")),
    }
}

/// Whether the configured SQLite file is missing (a dry run then plans against nothing).
pub(crate) fn sqlite_file_missing(config: &Config) -> bool {
    domain::db::sqlite_file(&config.database_url).is_some_and(|f| !f.exists())
}

/// An empty, migrated database in memory: what a dry run plans against when the configured
/// file does not exist yet, so that a dry run creates nothing.
pub(crate) async fn empty_in_memory() -> anyhow::Result<DatabaseConnection> {
    domain::db::open("sqlite::memory:")
        .await
        .context("preparing an empty database for the dry run")
}
