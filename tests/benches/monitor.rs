//! Benchmark of the token-use monitor (issue 13). Prints figures; asserts nothing.
//!
//! `cargo bench -p reauth-tests --bench monitor` (SQLite; `MONITOR_BENCH_CONNECTIONS` overrides
//! the 10,000 connections).
//!
//! One monitor sweep over N connections with fresh access tokens against sfsim answering every
//! call after 50 ms, against the ideal time `N × latency ÷ parallelism` (each connection is one
//! LoginHistory query when it has fewer than 2,000 new rows), at the default concurrency and at
//! 256; and the LoginHistory calls per org per day that the default `monitor.every` makes.

#![expect(
    clippy::disallowed_methods,
    reason = "tests and benchmarks read their own switches (REAUTH_TEST_*, REAUTH_UPDATE_*, bench sizes) from the environment"
)]
#![expect(
    clippy::unwrap_used,
    reason = "test and benchmark code: a failed unwrap stops the run with its location"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use reauth_tests::{TestDb, seed};

async fn run(n: usize) {
    let db = TestDb::sqlite().await;
    let sim = sfsim::Sim::start(seed::sim_config(n), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let base = seed::vault_config(&sim, &db.url);
    seed::import_orgs(&db.db, n).await;
    let t0 = Instant::now();
    seed::connect_all(&db.db, &sim, &base, n).await;
    println!(
        "monitor sweep: {n} connections from real code exchanges in {:.1} s (setup)",
        t0.elapsed().as_secs_f64()
    );
    let latency = Duration::from_millis(50);
    sim.set_faults(sfsim::Faults {
        latency: Some(latency),
        ..Default::default()
    });
    let every = base.monitor.every;
    for (concurrency, per_instance) in [
        (base.monitor.concurrency, base.monitor.per_instance),
        (256, 256),
    ] {
        let mut config = base.clone();
        config.monitor.concurrency = concurrency;
        config.monitor.per_instance = per_instance;
        config.salesforce.http_timeout = Duration::from_secs(30);
        let vault = domain::vault::Vault::from_config(
            db.db.clone(),
            Arc::new(config),
            domain::time::Clock::system(),
            "bench",
        )
        .unwrap()
        .unwrap();
        let before = sim.stats();
        let t = Instant::now();
        let r = domain::monitor::sweep(&vault).await.unwrap();
        let secs = t.elapsed().as_secs_f64();
        let after = sim.stats();
        // All connections share sfsim's one instance, so per_instance bounds the parallelism.
        let parallel = concurrency.min(per_instance);
        let ideal = n as f64 * latency.as_secs_f64() / parallel as f64;
        let queries = after.rest_queries - before.rest_queries;
        let per_day = queries as f64 / n as f64 * (86_400.0 / every.as_secs_f64());
        println!(
            "  concurrency {concurrency}, per_instance {per_instance}: sweep {secs:.1} s; ideal {ideal:.1} s (connections × latency ÷ {parallel}); ratio {:.2}",
            secs / ideal
        );
        println!(
            "    checked {} of {}, queries {queries} ({:.2} per connection), refreshes caused {}; at monitor.every = {}: {per_day:.0} LoginHistory calls per org per day",
            r.checked,
            r.connections,
            queries as f64 / n as f64,
            after.refresh_ok - before.refresh_ok,
            domain::config::format_duration(every),
        );
    }
    sim.shutdown().await;
}

#[tokio::main]
async fn main() {
    reauth_tests::install_crypto();
    let n = std::env::var("MONITOR_BENCH_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    run(n).await;
}
