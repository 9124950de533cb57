//! `incident_connections`: the write-ahead progress of revoking each connection in an incident
//! (`pending` when the incident starts, `revoking` once a worker claimed it and before the call
//! to Salesforce, then `revoked` or `failed` with the reason).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "incident_connections")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub incident_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub connection_id: i64,
    pub org_id: String,
    /// `pending` | `revoking` | `revoked` | `failed`.
    pub state: String,
    pub updated_at: DateTimeUtc,
    /// What Salesforce answered (why it failed, or how it was revoked).
    pub reason: Option<String>,
    /// Claims so far; a worker finishes a row only while it still holds its claim number.
    pub attempts: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
