//! Orgs carry a campaign round: it goes up when an org moves wave or returns to the campaign
//! (needs re-auth), so notices are unique per (org, wave, step, round) and a returning org is
//! notified again.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("orgs")
                .add_column(integer("campaign_round").default(0))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("orgs")
                .drop_column("campaign_round")
                .to_owned(),
        )
        .await
    }
}
