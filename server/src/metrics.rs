//! Prometheus metrics at `/metrics`: the counters and histograms the vault records, plus
//! connection gauges computed at scrape time.

use std::sync::OnceLock;

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use sea_orm::{ConnectionTrait, Statement};

use crate::AppState;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process-wide recorder (installed once; `None` if another recorder was installed first).
pub(crate) fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| PrometheusBuilder::new().install_recorder().ok())
        .as_ref()
}

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(render))
}

async fn render(State(state): State<AppState>) -> impl IntoResponse {
    let Some(h) = handle() else {
        return (http::StatusCode::SERVICE_UNAVAILABLE, String::new());
    };
    let backend = state.db.get_database_backend();
    let by_status = Statement::from_string(
        backend,
        "SELECT status, COUNT(*) AS n FROM connections GROUP BY status",
    );
    if let Ok(rows) = state.db.query_all_raw(by_status).await {
        for r in rows {
            if let (Ok(status), Ok(n)) =
                (r.try_get::<String>("", "status"), r.try_get::<i64>("", "n"))
            {
                metrics::gauge!("reauth_connections", "status" => status).set(n as f64);
            }
        }
    }
    alert_gauges(&state).await;
    // Days until Salesforce's idle timeout, for the connection closest to it.
    let idle = chrono::Duration::from_std(state.config.heartbeat.idle_timeout).unwrap_or_default();
    let oldest = domain::entity::connection::Entity::find()
        .filter(domain::entity::connection::Column::Status.eq("active"))
        .order_by_asc(domain::entity::connection::Column::LastExchangeAt)
        .one(&state.db)
        .await;
    if let Ok(Some(c)) = oldest {
        let left = (c.last_exchange_at + idle - state.clock.now()).num_seconds() as f64 / 86_400.0;
        metrics::gauge!("reauth_idle_expiry_days_min").set(left);
    }
    h.run_upkeep();
    (http::StatusCode::OK, h.render())
}

/// `reauth_alerts_open{kind,severity}` from the alerts table (a label set seen before and now
/// gone reads 0, not its last value), and `reauth_monitor_rows_total{finding}` from the
/// monitor's counts, which every process shares through the database.
async fn alert_gauges(state: &AppState) {
    static SEEN: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());
    let backend = state.db.get_database_backend();
    let open = Statement::from_string(
        backend,
        "SELECT kind, severity, COUNT(*) AS n FROM alerts WHERE resolved_at IS NULL GROUP BY kind, severity",
    );
    if let Ok(rows) = state.db.query_all_raw(open).await {
        let now: Vec<(String, String, i64)> = rows
            .iter()
            .filter_map(|r| {
                Some((
                    r.try_get::<String>("", "kind").ok()?,
                    r.try_get::<String>("", "severity").ok()?,
                    r.try_get::<i64>("", "n").ok()?,
                ))
            })
            .collect();
        let mut seen = SEEN
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (kind, severity) in seen.iter() {
            if !now.iter().any(|(k, s, _)| k == kind && s == severity) {
                metrics::gauge!("reauth_alerts_open", "kind" => kind.clone(), "severity" => severity.clone()).set(0.0);
            }
        }
        for (kind, severity, n) in now {
            metrics::gauge!("reauth_alerts_open", "kind" => kind.clone(), "severity" => severity.clone())
                .set(n as f64);
            if !seen.iter().any(|(k, s)| *k == kind && *s == severity) {
                seen.push((kind, severity));
            }
        }
    }
    if let Ok(counts) = domain::entity::monitor_count::Entity::find()
        .all(&state.db)
        .await
    {
        for c in counts {
            metrics::counter!("reauth_monitor_rows_total", "finding" => c.finding)
                .absolute(u64::try_from(c.rows).unwrap_or(0));
        }
    }
}

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
