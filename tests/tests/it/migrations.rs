//! The schema's migrations go up, down to zero, and up again on both backends.

use migrations::{Migrator, MigratorTrait};
use reauth_tests::{TestDb, both_backends};
use sea_orm::ConnectionTrait;

async fn tables(db: &TestDb) -> Vec<String> {
    let sql = match db.backend {
        reauth_tests::Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'seaql_migrations' ORDER BY name"
        }
        reauth_tests::Backend::Postgres => {
            "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> 'seaql_migrations' ORDER BY table_name"
        }
    };
    let rows = db
        .db
        .query_all_raw(sea_orm::Statement::from_string(
            db.db.get_database_backend(),
            sql,
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.try_get::<String>("", "name").unwrap())
        .collect()
}

async fn every_migration_rolls_back_to_zero_and_applies_again(db: TestDb) {
    let all = tables(&db).await;
    for t in [
        "orgs",
        "contacts",
        "waves",
        "links",
        "connections",
        "notices",
        "events",
        "staff_users",
        "api_keys",
        "alerts",
        "tower_sessions",
    ] {
        assert!(
            all.contains(&t.to_owned()),
            "table {t} missing after migrating: {all:?}"
        );
    }
    // Down on one connection (a transaction), as `db::migrate` goes up: pooled SQLite
    // connections each cache the schema (see `domain::db::migrate`).
    let txn = domain::db::begin_write(&db.db).await.unwrap();
    Migrator::down(&txn, None).await.unwrap();
    txn.commit().await.unwrap();
    assert_eq!(
        tables(&db).await,
        Vec::<String>::new(),
        "tables left after rolling back to zero"
    );
    domain::db::migrate(&db.db).await.unwrap();
    assert_eq!(tables(&db).await, all);
    assert!(
        Migrator::get_pending_migrations(&db.db)
            .await
            .unwrap()
            .is_empty()
    );
}

both_backends!(
    migrations_roll_back_to_zero_and_apply_again,
    every_migration_rolls_back_to_zero_and_applies_again
);
