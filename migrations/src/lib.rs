//! reauth's schema, as sea-orm migrations that run unchanged on SQLite and PostgreSQL.
//!
//! Never edit a migration that has been released: add a new one. Every migration has a `down`
//! so the whole chain can be rolled back to zero and applied again (a test does exactly that).

#![expect(
    elided_lifetimes_in_paths,
    reason = "`MigrationTrait` (async-trait) spells `&SchemaManager` without its lifetime; matching it exactly is required"
)]

pub use sea_orm_migration::prelude::*;

mod m20261124_000001_orgs;
mod m20261124_000002_links_connections;
mod m20261124_000003_notices_events_alerts;
mod m20261124_000004_staff_keys_sessions;
mod m20261124_000005_campaign_round;
mod m20261124_000006_dashboard;
mod m20261201_000007_vault_integrity;
mod m20261202_000008_legacy;
mod m20261202_000009_monitor;
mod m20261202_000010_breaker;
mod m20261202_000011_incidents;
mod m20261202_000012_compliance;
mod m20261202_000015_search;
mod m20261202_000016_org_list;
mod m20261202_000017_incident_progress;

/// Applies reauth's migrations in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_orgs::Migration),
            Box::new(m20261124_000002_links_connections::Migration),
            Box::new(m20261124_000003_notices_events_alerts::Migration),
            Box::new(m20261124_000004_staff_keys_sessions::Migration),
            Box::new(m20261124_000005_campaign_round::Migration),
            Box::new(m20261124_000006_dashboard::Migration),
            Box::new(m20261201_000007_vault_integrity::Migration),
            Box::new(m20261202_000008_legacy::Migration),
            Box::new(m20261202_000009_monitor::Migration),
            Box::new(m20261202_000010_breaker::Migration),
            Box::new(m20261202_000011_incidents::Migration),
            Box::new(m20261202_000015_search::Migration),
            Box::new(m20261202_000012_compliance::Migration),
            Box::new(m20261202_000016_org_list::Migration),
            Box::new(m20261202_000017_incident_progress::Migration),
        ]
    }
}

/// Creates a (non-unique unless `unique`) index named `idx_{table}_{cols}`.
pub(crate) fn index(table: &str, cols: &[&str], unique: bool) -> IndexCreateStatement {
    let mut idx = Index::create();
    idx.name(format!("idx_{table}_{}", cols.join("_")))
        .table(table.to_owned());
    for c in cols {
        idx.col(Alias::new(*c));
    }
    if unique {
        idx.unique();
    }
    idx.to_owned()
}

/// A foreign key from `table.col` to `target.id`.
pub(crate) fn fk(
    table: &str,
    col: &str,
    target: &str,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{col}"))
        .from(table.to_owned(), col.to_owned())
        .to(target.to_owned(), "id".to_owned())
        .on_delete(on_delete)
        .to_owned()
}
