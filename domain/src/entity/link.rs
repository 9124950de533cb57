//! `links`: re-auth links; only the SHA-256 of the secret is stored.

use sea_orm::entity::prelude::*;

use crate::types::OrgId;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "links")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    #[serde(skip_serializing)]
    pub secret_hash: String,
    pub org_id: OrgId,
    pub contact_id: Option<i64>,
    pub notice_id: Option<i64>,
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub first_opened_at: Option<DateTimeUtc>,
    pub last_opened_at: Option<DateTimeUtc>,
    pub open_count: i32,
    pub used_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
