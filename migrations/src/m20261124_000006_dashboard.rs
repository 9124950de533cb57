//! The staff dashboard: TOTP replay protection, when each org left the rollout's "remaining"
//! count (the burn-down reads it), bulk actions run as resumable jobs, and indexes for the
//! overview's token-health panel.

use sea_orm_migration::{prelude::*, schema::*};

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // The last accepted TOTP time step: a code is accepted once.
        m.alter_table(
            Table::alter()
                .table("staff_users")
                .add_column(big_integer_null("totp_last_step"))
                .to_owned(),
        )
        .await?;
        // First time the org consented (or was exempted): it no longer counts as remaining.
        m.alter_table(
            Table::alter()
                .table("orgs")
                .add_column(timestamp_with_time_zone_null("completed_at"))
                .to_owned(),
        )
        .await?;
        m.get_connection()
            .execute_unprepared(
                "UPDATE orgs SET completed_at = state_changed_at \
                 WHERE state IN ('consented', 'verified', 'legacy_retired', 'needs_reauth', 'exempt') \
                 OR (state = 'needs_attention' \
                     AND resume_state IN ('consented', 'verified', 'legacy_retired'))",
            )
            .await?;
        m.create_index(index("orgs", &["wave_id", "completed_at"], false))
            .await?;
        m.create_index(index("connections", &["status", "last_exchange_at"], false))
            .await?;
        m.create_index(index("connections", &["last_error_at"], false))
            .await?;

        m.create_table(
            Table::create()
                .table("bulk_jobs")
                .col(big_pk_auto("id"))
                // send_link | move_wave | exempt | pause_notices | resume_notices | assign_csm
                .col(text("action"))
                // The action's argument (wave name, CSM email, reason), if any.
                .col(text_null("argument"))
                // Either explicit org ids or an org-list filter, as JSON.
                .col(json_binary("selection"))
                .col(big_integer("total"))
                .col(big_integer("done").default(0))
                .col(big_integer("skipped").default(0))
                .col(big_integer("failed").default(0))
                // Orgs are processed in id order; the last one finished, so a resumed job
                // continues after it.
                .col(text_null("cursor"))
                // queued | running | done | failed | cancelled
                .col(text("status"))
                .col(text_null("error"))
                .col(text("created_by"))
                .col(text_null("lease_owner"))
                .col(timestamp_with_time_zone_null("lease_expires_at"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("started_at"))
                .col(timestamp_with_time_zone_null("finished_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("bulk_jobs", &["status", "created_at"], false))
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("bulk_jobs").to_owned())
            .await?;
        for (t, cols) in [
            ("connections", "last_error_at"),
            ("connections", "status_last_exchange_at"),
            ("orgs", "wave_id_completed_at"),
        ] {
            m.drop_index(
                Index::drop()
                    .name(format!("idx_{t}_{cols}"))
                    .table(t.to_owned())
                    .to_owned(),
            )
            .await?;
        }
        m.alter_table(
            Table::alter()
                .table("orgs")
                .drop_column("completed_at")
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table("staff_users")
                .drop_column("totp_last_step")
                .to_owned(),
        )
        .await
    }
}
