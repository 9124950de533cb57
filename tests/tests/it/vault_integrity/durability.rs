//! A committed persist survives a power loss: on SQLite every connection reauth opens (the main
//! pool and the vault's lease pool) syncs the write-ahead log on each commit
//! (`synchronous=FULL`), so a rotated refresh token that was stored is not rolled back by an OS
//! crash. (`NORMAL` survives a crash of the process only.)

use reauth_tests::TestDb;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

async fn synchronous(db: &DatabaseConnection) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "PRAGMA synchronous",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

#[tokio::test]
async fn every_sqlite_connection_syncs_each_commit_to_disk() {
    let db = TestDb::sqlite().await;
    // 2 is FULL (0 OFF, 1 NORMAL, 3 EXTRA).
    assert_eq!(synchronous(&db.db).await, 2, "the main pool");
    let leases = domain::db::lease_pool(&db.db).expect("a file database has a lease pool");
    assert_eq!(synchronous(&leases).await, 2, "the vault's lease pool");
}
