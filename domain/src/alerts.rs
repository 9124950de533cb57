//! Alerts: things a person at the partner must look at.

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{ConnectionTrait, EntityTrait};

use crate::entity::alert;
use crate::error::Result;
use crate::types::OrgId;

/// How urgent an alert is.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    sea_orm::EnumIter,
    sea_orm::DeriveActiveEnum,
)]
#[sea_orm(
    rs_type = "String",
    db_type = "String(sea_orm::sea_query::StringLen::None)",
    rename_all = "snake_case"
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

/// Raises an alert.
pub async fn raise<C: ConnectionTrait>(
    db: &C,
    kind: &str,
    severity: Severity,
    org_id: Option<&OrgId>,
    message: &str,
    details: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<()> {
    tracing::warn!(
        kind,
        severity = severity.as_str(),
        org_id = org_id.map(|o| o.as_str()),
        message,
        "alert"
    );
    alert::Entity::insert(alert::ActiveModel {
        id: NotSet,
        kind: Set(kind.to_owned()),
        severity: Set(severity),
        org_id: Set(org_id.cloned()),
        message: Set(message.to_owned()),
        details: Set(details),
        created_at: Set(now),
        acknowledged_at: Set(None),
        acknowledged_by: Set(None),
        resolved_at: Set(None),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// A person has seen the alert and owns it; it stays open until resolved.
pub async fn acknowledge<C: ConnectionTrait>(
    db: &C,
    id: i64,
    actor: &crate::events::Actor,
    now: DateTime<Utc>,
) -> Result<bool> {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, QueryFilter};
    let res = alert::Entity::update_many()
        .col_expr(alert::Column::AcknowledgedAt, Expr::value(now))
        .col_expr(
            alert::Column::AcknowledgedBy,
            Expr::value(actor.name().unwrap_or(actor.kind())),
        )
        .filter(alert::Column::Id.eq(id))
        .filter(alert::Column::AcknowledgedAt.is_null())
        .exec(db)
        .await?;
    if res.rows_affected == 1 {
        crate::events::record(
            db,
            now,
            actor,
            None,
            "alert.acknowledged",
            serde_json::json!({ "alert_id": id }),
        )
        .await?;
    }
    Ok(res.rows_affected == 1)
}
