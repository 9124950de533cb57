//! The legacy cut-over: when an External Client App connection was verified (the retirement
//! clock), the legacy grant's revocation retries, API key scopes, tokens served per org and hour,
//! cache invalidations every process picks up, the pre-flight check of each org, and which client
//! secret Salesforce last accepted.

use sea_orm_migration::{prelude::*, schema::*};

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn connection_columns() -> Vec<ColumnDef> {
    vec![
        timestamp_with_time_zone_null("verified_at"),
        integer("revoke_attempts").default(0).to_owned(),
        timestamp_with_time_zone_null("next_revoke_at"),
        // The status a row under an exchange lease returns to (it shows `refreshing` meanwhile).
        text_null("rests_as"),
    ]
}

fn org_columns() -> Vec<ColumnDef> {
    vec![
        // ok | blocked: the reason (the package is missing, the user is inactive) | unknown
        text_null("preflight"),
        timestamp_with_time_zone_null("preflight_at"),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for mut c in connection_columns() {
            m.alter_table(
                Table::alter()
                    .table("connections")
                    .add_column(&mut c)
                    .to_owned(),
            )
            .await?;
        }
        // Connections verified before this migration count from their last update.
        m.get_connection()
            .execute_unprepared(
                "UPDATE connections SET verified_at = updated_at WHERE status = 'active' AND app = 'eca'",
            )
            .await?;
        for mut c in org_columns() {
            m.alter_table(Table::alter().table("orgs").add_column(&mut c).to_owned())
                .await?;
        }
        // Existing keys keep what they could do: read tokens.
        m.alter_table(
            Table::alter()
                .table("api_keys")
                .add_column(text("scopes").default("tokens:read"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("token_usage")
                .col(timestamp_with_time_zone("hour"))
                .col(text("org_id"))
                .col(big_integer("api_key_id"))
                .col(text("app"))
                .col(big_integer("answers").default(0))
                .primary_key(
                    Index::create()
                        .col("hour")
                        .col("org_id")
                        .col("api_key_id")
                        .col("app"),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(index("token_usage", &["org_id", "hour"], false))
            .await?;
        m.create_table(
            Table::create()
                .table("cache_invalidations")
                .col(big_pk_auto("id"))
                .col(text("org_id"))
                .col(timestamp_with_time_zone("at"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("cache_invalidations", &["at"], false))
            .await?;
        m.create_table(
            Table::create()
                .table("secret_usage")
                // eca | legacy
                .col(text("app"))
                // The first 8 hex digits of the secret's SHA-256: names it, reveals nothing.
                .col(text("fingerprint"))
                .col(timestamp_with_time_zone("first_accepted_at"))
                .col(timestamp_with_time_zone("last_accepted_at"))
                .primary_key(Index::create().col("app").col("fingerprint"))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["secret_usage", "cache_invalidations", "token_usage"] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        m.alter_table(
            Table::alter()
                .table("api_keys")
                .drop_column("scopes")
                .to_owned(),
        )
        .await?;
        for c in org_columns().into_iter().rev() {
            m.alter_table(
                Table::alter()
                    .table("orgs")
                    .drop_column(c.get_column_name())
                    .to_owned(),
            )
            .await?;
        }
        for c in connection_columns().into_iter().rev() {
            m.alter_table(
                Table::alter()
                    .table("connections")
                    .drop_column(c.get_column_name())
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
