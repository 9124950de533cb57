//! Connecting to SQLite or PostgreSQL and applying migrations.

use std::str::FromStr;
use std::time::Duration;

use migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sea_orm::sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, SqlxPostgresConnector,
    SqlxSqliteConnector, Statement,
};

use crate::config::redact_url;

/// How long a connection waits for SQLite's write lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens a pool for `url` (`sqlite://…` or `postgres://…`).
///
/// SQLite runs in WAL mode with a busy timeout and foreign keys on, with a pool of its own
/// (sea-orm's default SQLite pool has a single connection, which would serialise the web server
/// and the workers).
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let conn_err =
        |e: sea_orm::sqlx::Error| DbErr::Custom(format!("cannot open {}: {e}", redact_url(url)));
    if url.starts_with("sqlite:") {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(conn_err)?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
            .foreign_keys(true);
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let pool = SqlitePoolOptions::new()
            .max_connections(if in_memory { 1 } else { 8 })
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts)
            .await
            .map_err(conn_err)?;
        Ok(SqlxSqliteConnector::from_sqlx_sqlite_pool(pool))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let opts = PgConnectOptions::from_str(url).map_err(conn_err)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts)
            .await
            .map_err(conn_err)?;
        Ok(SqlxPostgresConnector::from_sqlx_postgres_pool(pool))
    } else {
        Err(DbErr::Custom(format!(
            "database_url `{}` must start with sqlite:, postgres:// or postgresql://",
            redact_url(url)
        )))
    }
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// Connects and migrates: what `serve`, `worker` and the data commands do first.
pub async fn open(url: &str) -> Result<DatabaseConnection, DbErr> {
    let db = connect(url).await?;
    migrate(&db).await?;
    Ok(db)
}

/// Whether the database answers a trivial query within `timeout`.
pub async fn ping(db: &DatabaseConnection, timeout: Duration) -> bool {
    let stmt = Statement::from_string(db.get_database_backend(), "SELECT 1");
    matches!(
        tokio::time::timeout(timeout, db.execute_raw(stmt)).await,
        Ok(Ok(_))
    )
}

/// Which backend a connection talks to.
pub fn backend(db: &DatabaseConnection) -> DatabaseBackend {
    db.get_database_backend()
}

/// Begins a transaction that will write. On SQLite it takes the write lock at `BEGIN`
/// (`BEGIN IMMEDIATE`): a deferred transaction that reads and then writes while another
/// connection writes fails at once with "database is locked" instead of waiting. PostgreSQL
/// ignores the mode.
pub async fn begin_write<C: sea_orm::TransactionTrait>(db: &C) -> Result<C::Transaction, DbErr> {
    db.begin_with_options(sea_orm::TransactionOptions {
        isolation_level: None,
        access_mode: None,
        sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
    })
    .await
}
