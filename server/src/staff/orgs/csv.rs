//! The filtered org list as CSV: in the import format (the default, so an export can be edited
//! and imported again) or as the wider status report.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use domain::registry::ExportFormat;

use super::ListQuery;
use crate::AppState;
use crate::error::AppError;
use crate::staff::CurrentStaff;

/// The matching orgs in the import format (`reauth orgs import` takes it back).
pub(crate) async fn csv(
    state: State<AppState>,
    staff: CurrentStaff,
    query: Query<ListQuery>,
) -> Result<Response, AppError> {
    export(state, staff, query, ExportFormat::Import, "reauth-orgs.csv").await
}

/// The matching orgs with their state, notices and last change (not importable).
pub(crate) async fn report_csv(
    state: State<AppState>,
    staff: CurrentStaff,
    query: Query<ListQuery>,
) -> Result<Response, AppError> {
    export(
        state,
        staff,
        query,
        ExportFormat::Report,
        "reauth-orgs-report.csv",
    )
    .await
}

async fn export(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Query(query): Query<ListQuery>,
    format: ExportFormat,
    file: &str,
) -> Result<Response, AppError> {
    let now = state.clock.now();
    let spec = query.spec(now)?;
    let details = serde_json::to_value(&spec).unwrap_or_default();
    let body = domain::registry::export_csv(
        &state.db,
        &spec.to_filter()?,
        format,
        details,
        &staff.actor(),
        now,
    )
    .await?;
    Ok((
        [
            ("content-type", "text/csv; charset=utf-8".to_owned()),
            (
                "content-disposition",
                format!("attachment; filename=\"{file}\""),
            ),
        ],
        body,
    )
        .into_response())
}
