//! Re-auth links and Salesforce connections (the token vault's rows).

use sea_orm_migration::{prelude::*, schema::*};

use crate::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("links")
                .col(big_pk_auto("id"))
                // Hex SHA-256 of the 256-bit secret; the secret itself is never stored.
                .col(text_uniq("secret_hash"))
                .col(text("org_id"))
                .col(big_integer_null("contact_id"))
                .col(big_integer_null("notice_id"))
                .col(text("created_by"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("expires_at"))
                .col(timestamp_with_time_zone_null("first_opened_at"))
                .col(timestamp_with_time_zone_null("last_opened_at"))
                .col(integer("open_count").default(0))
                .col(timestamp_with_time_zone_null("used_at"))
                .col(timestamp_with_time_zone_null("revoked_at"))
                .foreign_key(&mut fk(
                    "links",
                    "org_id",
                    "orgs",
                    ForeignKeyAction::Cascade,
                ))
                .foreign_key(&mut fk(
                    "links",
                    "contact_id",
                    "contacts",
                    ForeignKeyAction::SetNull,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index("links", &["org_id", "created_at"], false))
            .await?;

        m.create_table(
            Table::create()
                .table("connections")
                .col(big_pk_auto("id"))
                .col(text("org_id"))
                // legacy (the partner's old Connected App) | eca (the packaged External Client App)
                .col(text("app"))
                // active | verifying | refreshing | needs_reauth | revoked | superseded
                .col(text("status"))
                // AES-256-GCM ciphertexts (nonce || ciphertext) and the key id that sealed them.
                .col(blob_null("refresh_token_ct"))
                .col(blob_null("access_token_ct"))
                .col(text_null("key_id"))
                .col(text("instance_url"))
                .col(text("id_url"))
                .col(text("sf_user_id"))
                .col(text_null("sf_username"))
                .col(text("scopes"))
                .col(timestamp_with_time_zone("issued_at"))
                .col(timestamp_with_time_zone_null("access_token_at"))
                // Last refresh-token exchange: Salesforce's idle clock starts here.
                .col(timestamp_with_time_zone("last_exchange_at"))
                .col(timestamp_with_time_zone_null("next_heartbeat_at"))
                .col(big_integer_null("heartbeat_interval_secs"))
                // Fence: every write by a lease holder bumps it.
                .col(big_integer("version").default(0))
                .col(text_null("lease_owner"))
                .col(timestamp_with_time_zone_null("lease_expires_at"))
                .col(timestamp_with_time_zone_null("refresh_started_at"))
                .col(text_null("last_error_class"))
                .col(text_null("last_error"))
                .col(timestamp_with_time_zone_null("last_error_at"))
                .col(big_integer_null("replaces_id"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(&mut fk(
                    "connections",
                    "org_id",
                    "orgs",
                    ForeignKeyAction::Cascade,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index("connections", &["org_id", "app", "status"], false))
            .await?;
        m.create_index(index(
            "connections",
            &["status", "next_heartbeat_at"],
            false,
        ))
        .await?;
        m.create_index(index("connections", &["lease_expires_at"], false))
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["connections", "links"] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
