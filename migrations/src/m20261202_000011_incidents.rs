//! Incidents: one row per incident (why, who started and closed it, whether every token is
//! revoked), and the write-ahead progress of revoking each connection so an interrupted
//! revocation resumes with nothing revoked twice and nothing missed.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("incidents")
                .col(big_pk_auto("id"))
                .col(text("reason"))
                .col(timestamp_with_time_zone("started_at"))
                .col(text("started_by"))
                // Every refresh token reauth holds is revoked at Salesforce.
                .col(boolean("revoke").default(false))
                // open | closed
                .col(text("state"))
                // 1 while open, NULL once closed: the unique index lets one incident be open.
                .col(integer_null("open_slot"))
                .col(timestamp_with_time_zone_null("closed_at"))
                .col(text_null("closed_by"))
                // The emergency wave the affected orgs join.
                .col(big_integer_null("wave_id"))
                .to_owned(),
        )
        .await?;
        m.create_index(crate::index("incidents", &["open_slot"], true))
            .await?;
        m.create_table(
            Table::create()
                .table("incident_connections")
                .col(big_integer("incident_id"))
                .col(big_integer("connection_id"))
                .col(text("org_id"))
                // revoking (written before the call to Salesforce) | revoked (after it)
                .col(text("state"))
                .col(timestamp_with_time_zone("updated_at"))
                .primary_key(Index::create().col("incident_id").col("connection_id"))
                .foreign_key(&mut crate::fk(
                    "incident_connections",
                    "incident_id",
                    "incidents",
                    ForeignKeyAction::Cascade,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(crate::index(
            "incident_connections",
            &["incident_id", "state"],
            false,
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("incident_connections").to_owned())
            .await?;
        m.drop_table(Table::drop().table("incidents").to_owned())
            .await?;
        Ok(())
    }
}
