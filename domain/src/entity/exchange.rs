//! `exchanges`: every refresh-token exchange the vault made (time, egress, outcome), so the
//! monitor can tell reauth's own LoginHistory rows from anyone else's.

use sea_orm::entity::prelude::*;

use super::connection::ConnectionApp;
use crate::types::OrgId;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "exchanges")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub org_id: OrgId,
    pub connection_id: i64,
    pub app: ConnectionApp,
    pub at: DateTimeUtc,
    /// The address Salesforce saw, when known.
    pub egress_ip: Option<String>,
    /// `ok` | `refused` | `restricted_ip` | `failed`
    pub outcome: String,
    /// When the monitor found this exchange's LoginHistory row.
    pub matched_at: Option<DateTimeUtc>,
    /// Why Salesforce refused it (`revoked`, `invalid_client`, or another error class); `None`
    /// when it succeeded. The breaker counts these.
    pub class: Option<String>,
    /// Whether Salesforce's answer carried a new refresh token (rotation observed); `None` for a
    /// refusal or a failure, and on rows written before this was recorded.
    pub rotated: Option<bool>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
