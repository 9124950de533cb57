//! Staff users, token-API keys and web sessions.

use sea_orm_migration::{prelude::*, schema::*};

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("staff_users")
                .col(big_pk_auto("id"))
                .col(text_uniq("email"))
                // viewer | operator | admin
                .col(text("role"))
                // argon2id PHC string
                .col(text("password_hash"))
                .col(boolean("must_change_password").default(true))
                .col(blob_null("totp_secret_ct"))
                .col(text_null("key_id"))
                .col(timestamp_with_time_zone_null("totp_enrolled_at"))
                // JSON array of hashed one-time recovery codes
                .col(json_binary_null("recovery_codes"))
                .col(integer("failed_attempts").default(0))
                .col(timestamp_with_time_zone_null("locked_until"))
                .col(timestamp_with_time_zone_null("last_login_at"))
                .col(timestamp_with_time_zone_null("disabled_at"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("api_keys")
                .col(big_pk_auto("id"))
                .col(text("name"))
                // The key's first characters, to recognise it in lists; never enough to use it.
                .col(text("prefix"))
                .col(text_uniq("key_hash"))
                .col(text("created_by"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("last_used_at"))
                .col(timestamp_with_time_zone_null("revoked_at"))
                .to_owned(),
        )
        .await?;

        // tower-sessions store (server-side sessions, so any server process can finish a flow).
        m.create_table(
            Table::create()
                .table("tower_sessions")
                .col(text("id").primary_key())
                .col(blob("data"))
                .col(big_integer("expiry_date"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("tower_sessions", &["expiry_date"], false))
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["tower_sessions", "api_keys", "staff_users"] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
