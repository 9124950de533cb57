//! `breaker`: one row saying whether the breaker has tripped (heartbeat and notices paused).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "breaker")]
pub struct Model {
    /// Always 1.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    /// Set while tripped.
    pub tripped_at: Option<DateTimeUtc>,
    /// The hour's exchanges when it tripped, and how many came back revoked or `invalid_client`.
    pub exchanges: Option<i32>,
    pub refused: Option<i32>,
    /// Exchanges before this time no longer count.
    pub counts_from: Option<DateTimeUtc>,
    pub resumed_at: Option<DateTimeUtc>,
    pub resumed_by: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
