//! Alerts that reach people, and the token-use monitor: alerts gain a dedupe key (one open alert
//! per key, enforced by a partial unique index), an occurrence count, when they were last seen,
//! an affected-org count for partner-wide causes and their notification state; an outbox of alert
//! deliveries (mail and webhook, retried); the vault's record of each exchange it made (time,
//! egress, outcome) for the monitor to recognise its own rows in LoginHistory; the monitor's
//! per-connection state and its row counts.

use sea_orm_migration::{prelude::*, schema::*};

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn alert_columns() -> Vec<ColumnDef> {
    vec![
        // kind + org + subject (a source IP, …); NULL: the alert is never merged with another.
        text_null("dedupe_key"),
        integer("occurrences").default(1).to_owned(),
        timestamp_with_time_zone_null("last_seen_at"),
        // Partner-wide alerts (no org): how many orgs the cause touched.
        integer_null("affected_orgs"),
        // When a notification round is wanted (NULL: none pending).
        timestamp_with_time_zone_null("notify_due_at"),
        timestamp_with_time_zone_null("notified_at"),
        integer("notify_round").default(0).to_owned(),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for mut c in alert_columns() {
            m.alter_table(Table::alter().table("alerts").add_column(&mut c).to_owned())
                .await?;
        }
        let conn = m.get_connection();
        // Alerts raised before this migration were seen once, when raised, and are not mailed now.
        conn.execute_unprepared("UPDATE alerts SET last_seen_at = created_at")
            .await?;
        // One open alert per key. Both SQLite and PostgreSQL take this partial index as written.
        conn.execute_unprepared(
            "CREATE UNIQUE INDEX idx_alerts_open_dedupe_key ON alerts (dedupe_key) \
             WHERE resolved_at IS NULL AND dedupe_key IS NOT NULL",
        )
        .await?;
        m.create_index(index("alerts", &["notify_due_at"], false))
            .await?;

        m.create_table(
            Table::create()
                .table("alert_deliveries")
                .col(big_pk_auto("id"))
                .col(big_integer("alert_id"))
                // Which notification round of the alert this delivers.
                .col(integer("round"))
                // email | webhook
                .col(text("channel"))
                // The address, or `webhook`.
                .col(text("target"))
                // pending | sending | sent | failed
                .col(text("status").default("pending"))
                .col(integer("attempts").default(0))
                .col(timestamp_with_time_zone("next_attempt_at"))
                .col(timestamp_with_time_zone_null("lease_expires_at"))
                .col(text_null("lease_owner"))
                .col(text_null("last_error"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("sent_at"))
                .foreign_key(&mut crate::fk(
                    "alert_deliveries",
                    "alert_id",
                    "alerts",
                    ForeignKeyAction::Cascade,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "alert_deliveries",
            &["alert_id", "round", "channel", "target"],
            true,
        ))
        .await?;
        m.create_index(index(
            "alert_deliveries",
            &["status", "next_attempt_at"],
            false,
        ))
        .await?;

        m.create_table(
            Table::create()
                .table("exchanges")
                .col(big_pk_auto("id"))
                .col(text("org_id"))
                .col(big_integer("connection_id"))
                // eca | legacy
                .col(text("app"))
                .col(timestamp_with_time_zone("at"))
                // The address Salesforce saw, when reauth knows it (`salesforce.egress_ip`, or
                // learned from LoginHistory); NULL: not known at exchange time.
                .col(text_null("egress_ip"))
                // ok | refused | restricted_ip | failed
                .col(text("outcome"))
                // Set once the monitor found the exchange's LoginHistory row.
                .col(timestamp_with_time_zone_null("matched_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("exchanges", &["connection_id", "at"], false))
            .await?;
        m.create_index(index("exchanges", &["at"], false)).await?;

        m.create_table(
            Table::create()
                .table("monitor_state")
                .col(big_integer("connection_id").primary_key())
                .col(text("org_id"))
                // LoginHistory rows after this time are still to be read.
                .col(timestamp_with_time_zone_null("watermark"))
                .col(timestamp_with_time_zone_null("checked_at"))
                // Our exchanges seen in LoginHistory / made, over the calibration window.
                .col(integer("seen").default(0))
                .col(integer("expected").default(0))
                .col(boolean("blind").default(false))
                // The `Application` value our rows carry, as learned.
                .col(text_null("application"))
                // The `LoginSubType` our refreshes' rows carry, as learned.
                .col(text_null("login_sub_type"))
                .col(big_integer("queries").default(0))
                .col(text_null("last_error"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("monitor_counts")
                .col(text("finding").primary_key())
                .col(big_integer("rows").default(0))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("published_ranges")
                // `/ip-ranges.json`'s sync token, and when it was first served.
                .col(text("sync_token").primary_key())
                .col(timestamp_with_time_zone("first_published_at"))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "published_ranges",
            "monitor_counts",
            "monitor_state",
            "exchanges",
            "alert_deliveries",
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        m.get_connection()
            .execute_unprepared("DROP INDEX idx_alerts_open_dedupe_key")
            .await?;
        m.drop_index(
            Index::drop()
                .name("idx_alerts_notify_due_at")
                .table("alerts")
                .to_owned(),
        )
        .await?;
        for c in alert_columns().into_iter().rev() {
            m.alter_table(
                Table::alter()
                    .table("alerts")
                    .drop_column(c.get_column_name())
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
