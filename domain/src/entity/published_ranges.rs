//! `published_ranges`: each `/ip-ranges.json` sync token and when it was first served.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "published_ranges")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub sync_token: String,
    pub first_published_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
