//! `monitor_state`: the token-use monitor's progress and calibration, per connection.

use sea_orm::entity::prelude::*;

use crate::types::OrgId;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "monitor_state")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub connection_id: i64,
    pub org_id: OrgId,
    /// LoginHistory rows after this time are still to be read.
    pub watermark: Option<DateTimeUtc>,
    pub checked_at: Option<DateTimeUtc>,
    /// Our exchanges found in LoginHistory, and made, over the calibration window.
    pub seen: i32,
    pub expected: i32,
    /// Fewer than 95% of our exchanges show up: the monitor cannot vouch for this connection.
    pub blind: bool,
    /// The `Application` value our rows carry, as learned.
    pub application: Option<String>,
    /// The `LoginSubType` our refreshes' rows carry, as learned.
    pub login_sub_type: Option<String>,
    /// LoginHistory queries made in the customer's org (API calls).
    pub queries: i64,
    pub last_error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
