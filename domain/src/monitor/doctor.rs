//! `reauth doctor ORG_ID`: the monitor's calibration on demand, against a real org, printing
//! what Salesforce recorded for reauth's exchanges — so a partner can confirm, on its first real
//! customer, the facts the monitor assumes (one row per successful refresh, what `Application`
//! holds, which `LoginSubType` a refresh carries, the address Salesforce sees).

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::classify::{self, Finding, Ours, Shape};
use crate::entity::connection::{self, ConnectionApp, ConnectionStatus};
use crate::entity::exchange;
use crate::error::{Error, Result};
use crate::types::OrgId;
use crate::vault::Vault;

/// One row as the doctor shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DoctorRow {
    pub login_time: DateTime<Utc>,
    pub source_ip: String,
    pub country: Option<String>,
    pub status: String,
    pub application: String,
    pub login_sub_type: String,
    /// What the monitor makes of it (`ours`, `token.foreign_use`, …).
    pub finding: &'static str,
    pub in_egress_ranges: bool,
}

/// What the doctor found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DoctorReport {
    pub org_id: OrgId,
    pub connection_id: i64,
    pub since: DateTime<Utc>,
    /// The learned `Application` and `LoginSubType` of our refreshes' rows.
    pub application: Option<String>,
    pub login_sub_type: Option<String>,
    /// Our successful exchanges in the window, and those with a row.
    pub exchanges: usize,
    pub exchanges_with_a_row: usize,
    pub queries: u32,
    pub rows: Vec<DoctorRow>,
}

/// Reads the org's LoginHistory since `since` with the connection's fresh access token (or,
/// with `allow_refresh`, a token the vault may have to refresh for — one login in the org) and
/// classifies it like the monitor does, changing nothing.
pub async fn doctor(
    vault: &Vault,
    org: &OrgId,
    since: DateTime<Utc>,
    allow_refresh: bool,
) -> Result<DoctorReport> {
    let db = vault.db();
    let config = vault.config();
    let c = connection::Entity::find()
        .filter(connection::Column::OrgId.eq(org.as_str()))
        .filter(connection::Column::Status.eq(ConnectionStatus::Active))
        .order_by_desc(connection::Column::App.eq(ConnectionApp::Eca))
        .order_by_desc(connection::Column::Id)
        .one(db)
        .await?
        .ok_or_else(|| Error::Invalid(format!("org {org} has no active connection to check")))?;
    let token = match vault.fresh_access_for(c.id).await? {
        Some(t) => t,
        None if allow_refresh => match vault.access_token_for(c.id).await? {
            Ok(t) => t,
            Err(e) => return Err(Error::Invalid(format!("no access token for {org}: {e}"))),
        },
        None => {
            return Err(Error::Invalid(format!(
                "org {org} has no fresh access token, and the doctor does not refresh unless asked: run it again with --refresh (one token exchange, a login in the customer's org)"
            )));
        }
    };
    let (rows, queries) = super::login_history(vault, &token, &c, since, 50)
        .await
        .map_err(|e| Error::Invalid(format!("reading {org}'s LoginHistory: {e}")))?;
    let ex = exchange::Entity::find()
        .filter(exchange::Column::ConnectionId.eq(c.id))
        .filter(exchange::Column::At.gte(since))
        .all(db)
        .await?;
    let ours: Vec<Ours> = ex.iter().map(Ours::from).collect();
    let window = chrono::Duration::from_std(config.monitor.match_window)
        .unwrap_or(chrono::Duration::minutes(2));
    let ranges = &config.partner.egress_ranges;
    // Calibration from scratch: what this org's rows say, not what the monitor learned before.
    let got = classify::classify(&rows, &ours, &Shape::default(), ranges, window);
    let matched = got
        .findings
        .iter()
        .filter(|f| matches!(f, Finding::Ours { .. } | Finding::OutOfRange { .. }))
        .count();
    Ok(DoctorReport {
        org_id: org.clone(),
        connection_id: c.id,
        since,
        application: got.shape.application.clone(),
        login_sub_type: got.shape.login_sub_type.clone(),
        exchanges: ex.iter().filter(|e| e.outcome == "ok").count(),
        exchanges_with_a_row: matched,
        queries,
        rows: rows
            .iter()
            .zip(&got.findings)
            .map(|(r, f)| DoctorRow {
                login_time: r.login_time,
                source_ip: r.source_ip.clone(),
                country: r.country_iso.clone(),
                status: r.status.clone(),
                application: r.application.clone(),
                login_sub_type: r.login_sub_type.clone(),
                finding: f.label(),
                in_egress_ranges: classify::in_ranges(&r.source_ip, ranges),
            })
            .collect(),
    })
}
