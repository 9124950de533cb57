//! An index for the staff org list's commonest filter: a wave's orgs in one state, in name order.
//! With it the database reads a page of 30 straight from the index instead of reading and sorting
//! every match (about 4,000 rows for a wave's pending orgs at 100,000 orgs: 5 ms on SQLite, under
//! 0.1 ms with the index, measured with `sqlite3 .timer`).

use sea_orm_migration::prelude::*;

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

const COLS: &[&str] = &["wave_id", "state", "name_lower", "id"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(index("orgs", COLS, false)).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name(format!("idx_orgs_{}", COLS.join("_")))
                .table("orgs".to_owned())
                .to_owned(),
        )
        .await
    }
}
