//! The breaker: each exchange records why Salesforce refused it (so an hour's revoked and
//! `invalid_client` answers can be counted), and one row holds whether the breaker has tripped
//! (the heartbeat and the notice sender of every process read it before each run).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // revoked | invalid_client | customer_setup | transient | ambiguous | ours; NULL: ok (or
        // recorded before this migration).
        m.alter_table(
            Table::alter()
                .table("exchanges")
                .add_column(text_null("class"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("breaker")
                // Always 1: there is one breaker.
                .col(integer("id").primary_key())
                // Set while tripped; NULL: closed.
                .col(timestamp_with_time_zone_null("tripped_at"))
                // What tripped it: exchanges counted and how many came back revoked or
                // `invalid_client`.
                .col(integer_null("exchanges"))
                .col(integer_null("refused"))
                // Exchanges before this time no longer count (set when an operator resumes).
                .col(timestamp_with_time_zone_null("counts_from"))
                .col(timestamp_with_time_zone_null("resumed_at"))
                .col(text_null("resumed_by"))
                .to_owned(),
        )
        .await?;
        m.get_connection()
            .execute_unprepared("INSERT INTO breaker (id) VALUES (1)")
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("breaker").to_owned())
            .await?;
        m.alter_table(
            Table::alter()
                .table("exchanges")
                .drop_column("class")
                .to_owned(),
        )
        .await?;
        Ok(())
    }
}
