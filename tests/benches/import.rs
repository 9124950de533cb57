//! Benchmark: importing a 100,000-row org CSV into SQLite (and PostgreSQL when
//! `REAUTH_TEST_POSTGRES_URL` is set), against a baseline measured in the same run: a bare batched
//! INSERT of the same rows (id, name, email) into a scratch table of the same database, which is
//! the floor any import must pay.
//!
//! `cargo bench -p reauth-tests --bench import` (release build). Prints figures; asserts nothing.

#![expect(
    clippy::unwrap_used,
    reason = "test and benchmark code: a failed unwrap stops the run with its location"
)]

use std::fmt::Write as _;
use std::time::Instant;

use domain::events::Actor;
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};

const ROWS: usize = 100_000;

/// A valid 15-character org id for row `i`.
fn org_id(i: usize) -> String {
    format!("00D{i:012}")
}

fn csv() -> String {
    let mut s = String::with_capacity(ROWS * 120);
    s.push_str("org_id,name,environment,wave,admin_email,admin_name,secondary_email,csm_email\n");
    for i in 0..ROWS {
        let _ = writeln!(
            s,
            "{},\"Customer {i}, Inc.\",{},Wave {},admin{i}@customer{i}.example,Admin {i},ops{i}@customer{i}.example,csm{}@partner.example",
            org_id(i),
            if i % 10 == 0 { "sandbox" } else { "production" },
            i % 5,
            i % 20
        );
    }
    s
}

async fn baseline(db: &DatabaseConnection) -> f64 {
    db.execute_unprepared("CREATE TABLE bench_baseline (id TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL)").await.unwrap();
    let start = Instant::now();
    let txn = db.begin().await.unwrap();
    for chunk in (0..ROWS).collect::<Vec<_>>().chunks(1000) {
        let mut sql = String::from("INSERT INTO bench_baseline (id, name, email) VALUES ");
        for (n, i) in chunk.iter().enumerate() {
            if n > 0 {
                sql.push(',');
            }
            let _ = write!(
                sql,
                "('{}','Customer {i}','admin{i}@customer{i}.example')",
                org_id(*i)
            );
        }
        txn.execute_unprepared(&sql).await.unwrap();
    }
    txn.commit().await.unwrap();
    start.elapsed().as_secs_f64()
}

async fn run(label: &str, db: &DatabaseConnection, text: &str) {
    let base = baseline(db).await;
    let t0 = Instant::now();
    let parsed = domain::registry::parse_csv(text.as_bytes(), "bench.csv", &[], |_| {}).unwrap();
    assert!(parsed.errors.is_empty());
    let t_parse = t0.elapsed().as_secs_f64();
    let plan = domain::registry::plan_import(db, "bench.csv", parsed)
        .await
        .unwrap();
    let t_plan = t0.elapsed().as_secs_f64() - t_parse;
    let report = domain::registry::apply_plan(db, plan, &Actor::System, chrono::Utc::now(), &())
        .await
        .unwrap();
    let total = t0.elapsed().as_secs_f64();
    assert_eq!(report.created, ROWS);
    println!(
        "{label:<10} first import: {ROWS} rows in {total:.2} s ({:.0} rows/s; parse {t_parse:.2} s, plan {t_plan:.2} s, write {:.2} s) | baseline bare INSERT {base:.2} s | ratio {:.1}x",
        ROWS as f64 / total,
        total - t_parse - t_plan,
        total / base
    );
    // Re-import of the same file: everything is compared, nothing written.
    let t1 = Instant::now();
    let parsed = domain::registry::parse_csv(text.as_bytes(), "bench.csv", &[], |_| {}).unwrap();
    let plan = domain::registry::plan_import(db, "bench.csv", parsed)
        .await
        .unwrap();
    let report = domain::registry::apply_plan(db, plan, &Actor::System, chrono::Utc::now(), &())
        .await
        .unwrap();
    assert_eq!(report.unchanged, ROWS);
    println!(
        "{label:<10} re-import (all unchanged): {:.2} s",
        t1.elapsed().as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    let text = csv();
    println!("CSV: {ROWS} rows, {:.1} MB", text.len() as f64 / 1e6);
    let db = reauth_tests::TestDb::sqlite().await;
    run("sqlite", &db.db, &text).await;
    if let Some(pg) = reauth_tests::TestDb::postgres().await {
        run("postgres", &pg.db, &text).await;
    }
}
