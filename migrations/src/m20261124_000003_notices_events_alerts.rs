//! The notice outbox, the append-only event log and alerts.

use sea_orm_migration::{prelude::*, schema::*};

use crate::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("notices")
                .col(big_pk_auto("id"))
                .col(text("org_id"))
                .col(big_integer_null("contact_id"))
                // announce | remind | final | escalate | reauth_needed | confirmation | fresh_link
                .col(text("kind"))
                .col(big_integer_null("wave_id"))
                .col(text_null("step"))
                .col(integer("occurrence").default(0))
                // `org|wave|step|occurrence`: a step is never scheduled twice for one occurrence.
                .col(text_uniq("dedupe_key"))
                .col(timestamp_with_time_zone("scheduled_at"))
                // pending | sending | sent | failed | cancelled
                .col(text("status"))
                .col(integer("attempts").default(0))
                .col(text_null("lease_owner"))
                .col(timestamp_with_time_zone_null("lease_expires_at"))
                .col(text_null("message_id"))
                .col(big_integer_null("link_id"))
                // The minted link's secret, encrypted, until the mail is accepted.
                .col(blob_null("link_secret_ct"))
                .col(text_null("key_id"))
                .col(text_null("recipient"))
                .col(text_null("last_error"))
                .col(timestamp_with_time_zone_null("sent_at"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(&mut fk(
                    "notices",
                    "org_id",
                    "orgs",
                    ForeignKeyAction::Cascade,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index("notices", &["status", "scheduled_at"], false))
            .await?;
        m.create_index(index("notices", &["org_id", "created_at"], false))
            .await?;

        // No foreign keys: the audit trail outlives what it talks about.
        m.create_table(
            Table::create()
                .table("events")
                .col(big_pk_auto("id"))
                .col(timestamp_with_time_zone("at"))
                // system | cli | staff | customer | api_key
                .col(text("actor_kind"))
                .col(text_null("actor"))
                .col(text_null("org_id"))
                .col(text("kind"))
                .col(json_binary("details"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("events", &["org_id", "at"], false))
            .await?;
        m.create_index(index("events", &["kind", "at"], false))
            .await?;
        m.create_index(index("events", &["at"], false)).await?;

        m.create_table(
            Table::create()
                .table("alerts")
                .col(big_pk_auto("id"))
                .col(text("kind"))
                // info | warning | critical
                .col(text("severity"))
                .col(text_null("org_id"))
                .col(text("message"))
                .col(json_binary("details"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("acknowledged_at"))
                .col(text_null("acknowledged_by"))
                .col(timestamp_with_time_zone_null("resolved_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("alerts", &["resolved_at", "created_at"], false))
            .await?;
        m.create_index(index("alerts", &["org_id"], false)).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["alerts", "events", "notices"] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
