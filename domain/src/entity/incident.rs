//! `incidents`: one row per incident (why, who started and closed it, whether every token is
//! revoked, the emergency wave).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "incidents")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub reason: String,
    pub started_at: DateTimeUtc,
    pub started_by: String,
    pub revoke: bool,
    /// `open` | `closed`.
    pub state: String,
    /// 1 while open, NULL once closed (a unique index keeps one incident open).
    pub open_slot: Option<i32>,
    pub closed_at: Option<DateTimeUtc>,
    pub closed_by: Option<String>,
    pub wave_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
