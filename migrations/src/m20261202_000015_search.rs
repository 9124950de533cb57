//! An index for the org list's search (a substring of an org's name, of a contact's email).
//!
//! SQLite: an FTS5 table with the trigram tokenizer, `org_search`, kept by triggers: one row per
//! org (its lower-case name, positive rowids) and one per contact (its email, rowid = −contact
//! id, so a contact's row is found by rowid). PostgreSQL: `pg_trgm` GIN indexes on the same two
//! columns, so `LIKE '%…%'` uses them; when the extension cannot be created (not installed, or no
//! privilege) the migration says so and search keeps scanning, which is correct, only slower.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The next positive rowid for an org's row (contacts' rows are negative).
const NEXT_ORG_ROWID: &str = "(SELECT COALESCE((SELECT rowid FROM org_search WHERE rowid > 0 ORDER BY rowid DESC LIMIT 1), 0) + 1)";

fn sqlite_up() -> Vec<String> {
    vec![
        "CREATE VIRTUAL TABLE org_search USING fts5(org_id UNINDEXED, term, tokenize = 'trigram')"
            .into(),
        "INSERT INTO org_search(org_id, term) SELECT id, name_lower FROM orgs".into(),
        "INSERT INTO org_search(rowid, org_id, term) SELECT -id, org_id, lower(email) FROM contacts"
            .into(),
        format!(
            "CREATE TRIGGER org_search_org_insert AFTER INSERT ON orgs BEGIN \
             INSERT INTO org_search(rowid, org_id, term) VALUES ({NEXT_ORG_ROWID}, new.id, new.name_lower); END"
        ),
        format!(
            "CREATE TRIGGER org_search_org_rename AFTER UPDATE OF name_lower ON orgs \
             WHEN old.name_lower IS NOT new.name_lower BEGIN \
             DELETE FROM org_search WHERE rowid > 0 AND org_id = old.id; \
             INSERT INTO org_search(rowid, org_id, term) VALUES ({NEXT_ORG_ROWID}, new.id, new.name_lower); END"
        ),
        "CREATE TRIGGER org_search_org_delete AFTER DELETE ON orgs BEGIN \
         DELETE FROM org_search WHERE rowid > 0 AND org_id = old.id; END"
            .into(),
        "CREATE TRIGGER org_search_contact_insert AFTER INSERT ON contacts BEGIN \
         INSERT INTO org_search(rowid, org_id, term) VALUES (-new.id, new.org_id, lower(new.email)); END"
            .into(),
        "CREATE TRIGGER org_search_contact_update AFTER UPDATE OF email, org_id ON contacts BEGIN \
         DELETE FROM org_search WHERE rowid = -old.id; \
         INSERT INTO org_search(rowid, org_id, term) VALUES (-new.id, new.org_id, lower(new.email)); END"
            .into(),
        "CREATE TRIGGER org_search_contact_delete AFTER DELETE ON contacts BEGIN \
         DELETE FROM org_search WHERE rowid = -old.id; END"
            .into(),
    ]
}

const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS org_search_contact_delete",
    "DROP TRIGGER IF EXISTS org_search_contact_update",
    "DROP TRIGGER IF EXISTS org_search_contact_insert",
    "DROP TRIGGER IF EXISTS org_search_org_delete",
    "DROP TRIGGER IF EXISTS org_search_org_rename",
    "DROP TRIGGER IF EXISTS org_search_org_insert",
    "DROP TABLE IF EXISTS org_search",
];

const POSTGRES_UP: &[&str] = &[
    // A failed CREATE EXTENSION would abort the migration's transaction; caught inside the block.
    "DO $$ BEGIN CREATE EXTENSION IF NOT EXISTS pg_trgm; \
     EXCEPTION WHEN OTHERS THEN RAISE WARNING 'pg_trgm is not available (%); the org search scans instead of using a trigram index', SQLERRM; END $$",
    "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN \
     CREATE INDEX IF NOT EXISTS idx_orgs_name_lower_trgm ON orgs USING gin (name_lower gin_trgm_ops); \
     CREATE INDEX IF NOT EXISTS idx_contacts_email_trgm ON contacts USING gin (email gin_trgm_ops); \
     END IF; END $$",
];

const POSTGRES_DOWN: &[&str] = &[
    // The extension stays: other databases objects may have come to use it.
    "DROP INDEX IF EXISTS idx_contacts_email_trgm",
    "DROP INDEX IF EXISTS idx_orgs_name_lower_trgm",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let conn = m.get_connection();
        match m.get_database_backend() {
            sea_orm::DatabaseBackend::Sqlite => {
                for sql in sqlite_up() {
                    conn.execute_unprepared(&sql).await?;
                }
            }
            _ => {
                for sql in POSTGRES_UP {
                    conn.execute_unprepared(sql).await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let conn = m.get_connection();
        let statements = match m.get_database_backend() {
            sea_orm::DatabaseBackend::Sqlite => SQLITE_DOWN,
            _ => POSTGRES_DOWN,
        };
        for sql in statements {
            conn.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
