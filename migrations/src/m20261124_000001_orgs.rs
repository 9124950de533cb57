//! Waves, orgs and their contacts: the registry the campaign runs over.

use sea_orm_migration::{prelude::*, schema::*};

use crate::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("waves")
                .col(big_pk_auto("id"))
                .col(text_uniq("name"))
                .col(timestamp_with_time_zone_null("starts_at"))
                .col(timestamp_with_time_zone_null("deadline"))
                // The notice schedule, e.g. `announce@start,remind@-7d,final@deadline`.
                .col(text("steps"))
                .col(boolean("paused").default(false))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("waves", &["deadline"], false)).await?;

        m.create_table(
            Table::create()
                .table("orgs")
                // The 18-character Salesforce org id.
                .col(text("id").primary_key())
                .col(text("name"))
                // Lower-cased name for case-insensitive search on both backends.
                .col(text("name_lower"))
                .col(text("environment"))
                .col(text_null("login_url"))
                .col(big_integer_null("wave_id"))
                .col(text("state"))
                .col(timestamp_with_time_zone("state_changed_at"))
                // While `needs_attention`: where the org returns to, why, and whose move it is.
                .col(text_null("resume_state"))
                .col(text_null("attention_reason"))
                .col(text_null("attention_owner"))
                .col(text_null("csm_email"))
                .col(boolean("notices_paused").default(false))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(&mut fk(
                    "orgs",
                    "wave_id",
                    "waves",
                    ForeignKeyAction::SetNull,
                ))
                .to_owned(),
        )
        .await?;
        for (cols, unique) in [
            (&["state"][..], false),
            (&["wave_id", "state"][..], false),
            (&["csm_email"][..], false),
            (&["name_lower"][..], false),
            (&["environment"][..], false),
            (&["state_changed_at"][..], false),
        ] {
            m.create_index(index("orgs", cols, unique)).await?;
        }

        m.create_table(
            Table::create()
                .table("contacts")
                .col(big_pk_auto("id"))
                .col(text("org_id"))
                // primary | secondary | technical: one contact per role and org.
                .col(text("role"))
                .col(text("email"))
                .col(text_null("name"))
                // IANA time zone name, for quiet hours.
                .col(text_null("timezone"))
                // ok | bouncing
                .col(text("bounce_status").default("ok"))
                .col(timestamp_with_time_zone_null("bounced_at"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(&mut fk(
                    "contacts",
                    "org_id",
                    "orgs",
                    ForeignKeyAction::Cascade,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index("contacts", &["org_id", "role"], true))
            .await?;
        m.create_index(index("contacts", &["email"], false)).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["contacts", "orgs", "waves"] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
