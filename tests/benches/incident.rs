//! Benchmark: `incident start --revoke` over 1,000 orgs against sfsim answering every call
//! after 50 ms — the revocation pass (claim, retire under an admin lease, revoke at Salesforce,
//! move the org to `needs_reauth` and into the emergency wave) — against the ideal in the same
//! run: orgs × latency ÷ concurrency (`heartbeat.per_instance`, one sfsim instance).
//!
//! `cargo bench -p reauth-tests --bench incident`. Prints figures; asserts nothing but that
//! every grant was revoked.

#![expect(
    clippy::unwrap_used,
    reason = "test and benchmark code: a failed unwrap stops the run with its location"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::events::Actor;
use domain::security::incident::{incidents, revoke};
use reauth_tests::{TestDb, seed};
use sea_orm::ConnectionTrait as _;

const N: usize = 1000;
const LATENCY: Duration = Duration::from_millis(50);
const CONCURRENCY: usize = 16;

#[tokio::main]
async fn main() {
    reauth_tests::install_crypto();
    let db = match TestDb::postgres().await {
        Some(db) => db,
        None => TestDb::sqlite().await,
    };
    let sim = sfsim::Sim::start(seed::sim_config(N), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    seed::import_orgs(&db.db, N).await;
    let mut config = seed::vault_config(&sim, &db.url);
    config.heartbeat.concurrency = CONCURRENCY;
    config.heartbeat.per_instance = CONCURRENCY;
    seed::connect_all(&db.db, &sim, &config, N).await;
    db.db
        .execute_unprepared("UPDATE orgs SET state = 'verified'")
        .await
        .unwrap();
    // The latency from here on: the grants above were made without it.
    let mut faults = sim.config().faults.clone();
    faults.latency = Some(LATENCY);
    sim.set_faults(faults);
    let config = Arc::new(config);
    let vault = domain::vault::Vault::from_config(
        db.db.clone(),
        config.clone(),
        domain::time::Clock::system(),
        "bench",
    )
    .unwrap()
    .unwrap();

    let t = Instant::now();
    incidents::start(
        &db.db,
        &config,
        &Actor::System,
        "bench",
        true,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let started = t.elapsed();
    loop {
        revoke::run(&vault, &Actor::System).await.unwrap();
        let p = incidents::current(&db.db).await.unwrap().unwrap().progress;
        if p.pending + p.revoking == 0 {
            break;
        }
    }
    let measured = t.elapsed();
    let revoked = sim
        .stats()
        .revoked_by_reason
        .get("revoke_endpoint")
        .copied()
        .unwrap_or(0);
    assert_eq!(revoked, N as u64, "every grant revoked once");
    let ideal = LATENCY * u32::try_from(N / CONCURRENCY).unwrap();
    let backend = if db.url.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "incident --revoke: {N} orgs, sfsim latency {LATENCY:?}, {CONCURRENCY} at a time, {backend}:"
    );
    println!("  start (incident, wave, {N} pending rows): {started:>10.2?}");
    println!("  measured (start to every grant revoked):  {measured:>10.2?}");
    println!("  ideal (orgs x latency / concurrency):     {ideal:>10.2?}");
    println!(
        "  ratio measured / ideal:                   {:>10.2}",
        measured.as_secs_f64() / ideal.as_secs_f64()
    );
}
