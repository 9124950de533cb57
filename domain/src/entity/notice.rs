//! `notices`: the email outbox.

use sea_orm::entity::prelude::*;

use crate::types::OrgId;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "notices")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub org_id: OrgId,
    pub contact_id: Option<i64>,
    pub kind: String,
    pub wave_id: Option<i64>,
    pub step: Option<String>,
    pub occurrence: i32,
    #[sea_orm(unique)]
    pub dedupe_key: String,
    pub scheduled_at: DateTimeUtc,
    /// pending | sending | sent | failed | cancelled
    pub status: String,
    pub attempts: i32,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTimeUtc>,
    pub message_id: Option<String>,
    pub link_id: Option<i64>,
    #[serde(skip_serializing)]
    pub link_secret_ct: Option<Vec<u8>>,
    pub key_id: Option<String>,
    pub recipient: Option<String>,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
