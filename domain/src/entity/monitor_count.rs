//! `monitor_counts`: LoginHistory rows the monitor read, per finding, since the start.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "monitor_counts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub finding: String,
    pub rows: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
