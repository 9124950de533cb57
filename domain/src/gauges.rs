//! Figures read from the database when `/metrics` is scraped: connections by status, open alerts,
//! the monitor's row counts and the connection closest to Salesforce's idle timeout. Every
//! process shares them through the database, so any process's `/metrics` reports the same.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, EntityTrait as _, FromQueryResult, QueryFilter as _,
    QueryOrder as _, Statement,
};

use crate::Result;
use crate::entity::connection::{self, ConnectionStatus};
use crate::entity::monitor_count;

/// One scrape's figures.
#[derive(Debug, Default)]
pub struct Gauges {
    /// `(status, connections)` for every status that has any.
    pub connections: Vec<(String, i64)>,
    /// `(kind, severity, open alerts)`.
    pub open_alerts: Vec<(String, String, i64)>,
    /// `(finding, LoginHistory rows)` since the monitor started.
    pub monitor_rows: Vec<(String, i64)>,
    /// Days left before the idle timeout for the active connection used longest ago (negative
    /// once past); `None` without active connections.
    pub idle_expiry_days_min: Option<f64>,
}

#[derive(FromQueryResult)]
struct StatusCount {
    status: String,
    n: i64,
}

#[derive(FromQueryResult)]
struct AlertCount {
    kind: String,
    severity: String,
    n: i64,
}

/// Reads every gauge; `idle_timeout` is Salesforce's refresh-token idle timeout.
pub async fn read<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    idle_timeout: chrono::Duration,
) -> Result<Gauges> {
    let backend = db.get_database_backend();
    let connections = StatusCount::find_by_statement(Statement::from_string(
        backend,
        "SELECT status, COUNT(*) AS n FROM connections GROUP BY status",
    ))
    .all(db)
    .await?
    .into_iter()
    .map(|r| (r.status, r.n))
    .collect();
    let open_alerts = AlertCount::find_by_statement(Statement::from_string(
        backend,
        "SELECT kind, severity, COUNT(*) AS n FROM alerts WHERE resolved_at IS NULL \
         GROUP BY kind, severity",
    ))
    .all(db)
    .await?
    .into_iter()
    .map(|r| (r.kind, r.severity, r.n))
    .collect();
    let monitor_rows = monitor_count::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.finding, c.rows))
        .collect();
    let oldest = connection::Entity::find()
        .filter(connection::Column::Status.eq(ConnectionStatus::Active))
        .order_by_asc(connection::Column::LastExchangeAt)
        .one(db)
        .await?;
    let idle_expiry_days_min =
        oldest.map(|c| (c.last_exchange_at + idle_timeout - now).num_seconds() as f64 / 86_400.0);
    Ok(Gauges {
        connections,
        open_alerts,
        monitor_rows,
        idle_expiry_days_min,
    })
}
