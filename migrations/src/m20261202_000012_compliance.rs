//! Compliance evidence: whether Salesforce rotated the refresh token on each exchange
//! (`exchanges.rotated`; `NULL` on rows written before it was recorded), for the compliance
//! report's share of rotated refreshes.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("exchanges")
                .add_column(boolean_null("rotated"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("exchanges")
                .drop_column("rotated")
                .to_owned(),
        )
        .await
    }
}
