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

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
