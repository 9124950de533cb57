//! The progress of an incident's revocation pass, per connection: why a revocation failed
//! (`reason`), and how many times the row was claimed (`attempts`), which is also the claim's
//! token: a worker finishes only the row it claimed, never one another worker re-claimed after
//! its claim ran out.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        m.alter_table(
            Table::alter()
                .table("incident_connections")
                .add_column(text_null("reason"))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table("incident_connections")
                .add_column(integer("attempts").default(0))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("incident_connections")
                .drop_column("attempts")
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table("incident_connections")
                .drop_column("reason")
                .to_owned(),
        )
        .await
    }
}
