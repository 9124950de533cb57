//! `secret_usage`: which client secret Salesforce accepted, per app, and when.

use sea_orm::entity::prelude::*;

use super::connection::ConnectionApp;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "secret_usage")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub app: ConnectionApp,
    /// The first 8 hex digits of the secret's SHA-256.
    #[sea_orm(primary_key, auto_increment = false)]
    pub fingerprint: String,
    pub first_accepted_at: DateTimeUtc,
    pub last_accepted_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
