//! Prometheus metrics at `/metrics`: the counters and histograms the vault records, plus
//! connection gauges computed at scrape time.

use std::sync::OnceLock;

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

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
    let idle = chrono::Duration::from_std(state.config.heartbeat.idle_timeout).unwrap_or_default();
    match domain::gauges::read(&state.db, state.clock.now(), idle).await {
        Ok(g) => publish(g),
        // A scrape still answers with the process's counters; the gauges keep their last values.
        Err(e) => tracing::warn!(error = %e, "cannot read the gauges from the database"),
    }
    h.run_upkeep();
    (http::StatusCode::OK, h.render())
}

/// Sets the gauges from one reading. An alert label set seen before and now gone reads 0, not
/// its last value.
fn publish(g: domain::gauges::Gauges) {
    static SEEN: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());
    for (status, n) in g.connections {
        metrics::gauge!("reauth_connections", "status" => status).set(n as f64);
    }
    if let Some(days) = g.idle_expiry_days_min {
        // Days until Salesforce's idle timeout, for the connection closest to it.
        metrics::gauge!("reauth_idle_expiry_days_min").set(days);
    }
    let mut seen = SEEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for (kind, severity) in seen.iter() {
        if !g
            .open_alerts
            .iter()
            .any(|(k, s, _)| k == kind && s == severity)
        {
            metrics::gauge!("reauth_alerts_open", "kind" => kind.clone(), "severity" => severity.clone()).set(0.0);
        }
    }
    for (kind, severity, n) in g.open_alerts {
        metrics::gauge!("reauth_alerts_open", "kind" => kind.clone(), "severity" => severity.clone())
            .set(n as f64);
        if !seen.iter().any(|(k, s)| *k == kind && *s == severity) {
            seen.push((kind, severity));
        }
    }
    drop(seen);
    for (finding, rows) in g.monitor_rows {
        metrics::counter!("reauth_monitor_rows_total", "finding" => finding)
            .absolute(u64::try_from(rows).unwrap_or(0));
    }
}
