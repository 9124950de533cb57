//! The one thing the metadata audit asks the registry: how many orgs still have a live
//! connection on the legacy Connected App.
//!
//! "Configured" means `database_url` names a database that exists: the built-in default
//! (`./reauth.db`) counts only when that file is there, so an audit never creates a database.

use std::time::Duration;

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
};

use crate::config::{Config, redact_url};
use crate::entity::connection::{self, ConnectionApp, ConnectionStatus};

/// Connections in these states no longer hold a grant.
const DEAD: [ConnectionStatus; 2] = [ConnectionStatus::Revoked, ConnectionStatus::Superseded];

/// How long the audit waits for the database before giving up on the count.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Distinct orgs with a connection on the legacy app that is neither revoked nor superseded.
pub async fn legacy_org_count<C: ConnectionTrait>(db: &C) -> Result<u64, DbErr> {
    connection::Entity::find()
        .select_only()
        .column(connection::Column::OrgId)
        .distinct()
        .filter(connection::Column::App.eq(ConnectionApp::Legacy))
        .filter(connection::Column::Status.is_not_in(DEAD))
        .count(db)
        .await
}

/// The count, or `None`: quietly when no database is configured, with a warning when the
/// configured one cannot answer.
pub(super) async fn count_if_configured(config: &Config) -> Option<u64> {
    let url = config.database_url.as_str();
    let is_default = url == Config::default().database_url;
    if let Some(file) = crate::db::sqlite_file(url)
        && !file.is_file()
    {
        if !is_default {
            tracing::warn!(
                database = %redact_url(url),
                "the database file does not exist; the count of orgs on the legacy app is left out"
            );
        }
        return None;
    }
    let counted = tokio::time::timeout(TIMEOUT, async {
        let db = crate::db::connect(url).await?;
        let n = legacy_org_count(&db).await;
        db.close().await.ok();
        n
    })
    .await;
    match counted {
        Ok(Ok(n)) => Some(n),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot count the orgs on the legacy app; the count is left out");
            None
        }
        Err(_) => {
            tracing::warn!(
                "the database did not answer within 10 s; the count of orgs on the legacy app is left out"
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use crate::db::sqlite_file;

    #[test]
    fn sqlite_urls_name_their_file_and_others_none() {
        assert_eq!(
            sqlite_file("sqlite://reauth.db?mode=rwc"),
            Some(PathBuf::from("reauth.db"))
        );
        assert_eq!(
            sqlite_file("sqlite:///tmp/x.db"),
            Some(PathBuf::from("/tmp/x.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://u@h/db"), None);
    }
}
