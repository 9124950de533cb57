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
/// SQLite runs in WAL mode with `synchronous=FULL` (each commit synced to disk: with `NORMAL` an
/// OS crash or power loss could roll back a stored rotated refresh token), a busy timeout and
/// foreign keys on, with a pool of its own
/// (sea-orm's default SQLite pool has a single connection, which would serialise the web server
/// and the workers).
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let conn_err =
        |e: sea_orm::sqlx::Error| DbErr::Custom(format!("cannot open {}: {e}", redact_url(url)));
    if url.starts_with("sqlite:") {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(conn_err)?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
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

/// Connections of the vault's own pool: a lease holder's writes (claim, extension, persist)
/// never queue behind the process's ordinary queries.
const LEASE_POOL: u32 = 6;

/// A small pool of its own for the vault's lease writes, to the same database as `db` (opened
/// lazily: no I/O here), or `None` where a second pool cannot be had (an in-memory SQLite
/// database, whose single connection is the database).
///
/// A refresh holds its lease while it waits to store a rotated token; if those writes shared the
/// pool with a flood of API requests, a lease could run out in the queue and another process
/// recover the row with the old token.
pub fn lease_pool(db: &DatabaseConnection) -> Option<DatabaseConnection> {
    match db.get_database_backend() {
        DatabaseBackend::Sqlite => {
            let main = db.get_sqlite_connection_pool();
            if main.options().get_max_connections() <= 1 {
                return None;
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(LEASE_POOL)
                .acquire_timeout(Duration::from_secs(30))
                .connect_lazy_with((*main.connect_options()).clone());
            Some(SqlxSqliteConnector::from_sqlx_sqlite_pool(pool))
        }
        DatabaseBackend::Postgres => {
            let main = db.get_postgres_connection_pool();
            let pool = PgPoolOptions::new()
                .max_connections(LEASE_POOL)
                .acquire_timeout(Duration::from_secs(30))
                .connect_lazy_with((*main.connect_options()).clone());
            Some(SqlxPostgresConnector::from_sqlx_postgres_pool(pool))
        }
        _ => None,
    }
}

/// Applies every pending migration.
///
/// Every process migrates at start, so two may try at once: on PostgreSQL they take turns under
/// a session advisory lock, on SQLite under an exclusive lock on a file beside the database. The
/// second finds nothing left to do.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            use sea_orm::sqlx::{self, Executor as _};
            let pool = db.get_postgres_connection_pool();
            let mut lock = pool
                .acquire()
                .await
                .map_err(|e| DbErr::Custom(format!("cannot take the migration lock: {e}")))?;
            lock.execute(sqlx::query("SELECT pg_advisory_lock($1)").bind(MIGRATION_LOCK))
                .await
                .map_err(|e| DbErr::Custom(format!("cannot take the migration lock: {e}")))?;
            let result = Migrator::up(db, None).await;
            let unlocked = lock
                .execute(sqlx::query("SELECT pg_advisory_unlock($1)").bind(MIGRATION_LOCK))
                .await;
            if let Err(e) = unlocked {
                // Closing the session releases the lock, so the pool must not keep it.
                tracing::warn!(error = %e, "could not release the migration lock; closing its connection");
                lock.close_on_drop();
            }
            result
        }
        DatabaseBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            let file = pool.connect_options().get_filename().to_path_buf();
            if pool.options().get_max_connections() <= 1 || file.as_os_str() == ":memory:" {
                return sqlite_up(db).await;
            }
            let mut lock_path = file.into_os_string();
            lock_path.push(".migrate-lock");
            let lock = tokio::task::spawn_blocking(move || {
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&lock_path)?;
                f.lock()?;
                Ok::<_, std::io::Error>(f)
            })
            .await
            .map_err(|e| DbErr::Custom(format!("cannot take the migration lock: {e}")))?
            .map_err(|e| DbErr::Custom(format!("cannot take the migration lock: {e}")))?;
            let result = sqlite_up(db).await;
            drop(lock); // closing the file releases the lock
            result
        }
        _ => Migrator::up(db, None).await,
    }
}

/// Applies SQLite's pending migrations in one write transaction, so on one connection: each
/// pooled connection caches the schema, and a statement prepared on another connection right
/// after a schema change can be checked against the stale copy ("index … already exists" after
/// a roll-back, seen under load). One transaction also makes the whole upgrade all or nothing.
async fn sqlite_up(db: &DatabaseConnection) -> Result<(), DbErr> {
    let txn = begin_write(db).await?;
    Migrator::up(&txn, None).await?;
    txn.commit().await
}

/// The advisory-lock key migrations run under on PostgreSQL ("reauth" in ASCII).
const MIGRATION_LOCK: i64 = 0x7265_6175_7468;

/// The file of an SQLite URL (`sqlite://path?…`, `sqlite:path`), `None` for other databases
/// and in-memory ones: what a command checks before it would create a database by opening it.
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:" && !url.contains("mode=memory"))
        .then(|| std::path::PathBuf::from(path))
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
