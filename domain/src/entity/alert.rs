//! `alerts`: things a person at the partner must look at.

use sea_orm::entity::prelude::*;

use crate::types::OrgId;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "alerts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub kind: String,
    /// info | warning | critical
    pub severity: crate::alerts::Severity,
    pub org_id: Option<OrgId>,
    pub message: String,
    pub details: Json,
    pub created_at: DateTimeUtc,
    pub acknowledged_at: Option<DateTimeUtc>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<DateTimeUtc>,
    /// kind + org + subject; one open alert per key. `None`: never merged.
    pub dedupe_key: Option<String>,
    /// How many times the cause was seen while the alert was open.
    pub occurrences: i32,
    pub last_seen_at: Option<DateTimeUtc>,
    /// Partner-wide alerts (no org): how many orgs the cause touched.
    pub affected_orgs: Option<i32>,
    /// A notification round is wanted from this time (`None`: none pending).
    pub notify_due_at: Option<DateTimeUtc>,
    pub notified_at: Option<DateTimeUtc>,
    /// Notification rounds queued so far.
    pub notify_round: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
