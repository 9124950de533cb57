//! Vault integrity: a place for a rotated refresh token whose writer was fenced out (presented
//! first by the next lease holder, so it is never lost), the anomaly an answer showed although
//! its token was kept, and the retry schedule of a failed verification.

use sea_orm_migration::{prelude::*, schema::*};

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The columns this migration adds to `connections` (SQLite alters one column at a time).
fn columns() -> Vec<ColumnDef> {
    vec![
        blob_null("pending_refresh_token_ct"),
        text_null("pending_key_id"),
        timestamp_with_time_zone_null("pending_at"),
        text_null("anomaly"),
        integer("verify_attempts").default(0).to_owned(),
        timestamp_with_time_zone_null("next_verify_at"),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for mut c in columns() {
            m.alter_table(
                Table::alter()
                    .table("connections")
                    .add_column(&mut c)
                    .to_owned(),
            )
            .await?;
        }
        // A connection left `verifying` by a failed identity check is retried on a schedule.
        m.get_connection()
            .execute_unprepared(
                "UPDATE connections SET next_verify_at = updated_at WHERE status = 'verifying'",
            )
            .await?;
        m.create_index(index("connections", &["status", "next_verify_at"], false))
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("idx_connections_status_next_verify_at")
                .table("connections".to_owned())
                .to_owned(),
        )
        .await?;
        for c in columns().into_iter().rev() {
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
