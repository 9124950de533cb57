//! Benchmarks for the token vault (issues 5 and 15). Prints figures; asserts only that each sweep
//! refreshed every connection and that sfsim saw no reuse.
//!
//! `cargo bench -p reauth-tests --bench vault` (SQLite; set `REAUTH_TEST_POSTGRES_URL` to run the
//! sweeps on PostgreSQL as well). `VAULT_BENCH_CONNECTIONS` overrides the 100,000 connections,
//! `VAULT_BENCH_BACKENDS=sqlite|postgres` runs one backend, `VAULT_BENCH_SEED=mint` seeds from
//! grants minted inside sfsim instead of code exchanges (for 1,000,000 connections), `VAULT_BENCH_CASES=throughput,statements,sweep,catchup,process,contended`
//! runs only those heartbeat cases (and skips the token API case); `statements` repeats the
//! throughput case counting every SQL statement ([`stmts`]). `VAULT_BENCH_CALLGRIND=1` under
//! `valgrind --tool=callgrind --collect-atstart=no` profiles the sweeps alone.
//!
//! 1. Token API throughput for cached tokens, against a bare axum handler in the same run.
//! 2. Heartbeat sweeps of N due connections with sfsim in a process of its own ([`sweep`]):
//!    refreshes per second with latency off, a sweep and a catch-up at 50 ms against their ideal
//!    times, and this process's memory (RSS) at rest and at each case's peak.
//! 3. `process` ([`process`]): the `reauth worker` and `reauth serve` processes themselves at rest
//!    over N connections, and the worker's own heartbeat refreshing all of them (its peak RSS);
//!    needs `cargo build --release --bin reauth`.
//! 4. `contended` ([`contended`], PostgreSQL): the token API of a `reauth serve` process under 200
//!    callers forcing refreshes and 8 `reauth worker` processes over 1,000 connections — the
//!    calls' p50 / p99 / max and the answers that missed `api.deadline`; needs the same binary.
#![expect(
    clippy::disallowed_methods,
    reason = "tests and benchmarks read their own switches (REAUTH_TEST_*, REAUTH_UPDATE_*, bench sizes) from the environment"
)]
#![expect(
    clippy::unwrap_used,
    reason = "test and benchmark code: a failed unwrap stops the run with its location"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use domain::config::Config;
use domain::events::Actor;
use reauth_tests::{TestApp, TestDb};
use secrecy::ExposeSecret;

mod contended;
mod process;
mod sim;
mod stmts;
mod sweep;

use sim::org_id;

/// A field of a `/proc/PID/status` file, in KiB.
fn status_kib(path: &str, field: &str) -> u64 {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// A simulator with `orgs` orgs in this process, reauth's config for it, and the orgs imported.
async fn setup(db: &TestDb, orgs: usize) -> (sfsim::Sim, Config) {
    let sim = sim::start(orgs, sim::USERS_PER_ORG).await;
    let config = sim::config(
        sim.base_url(),
        sim.host_port(),
        &db.url,
        domain::security::crypto::Sealer::generate_key("k1"),
    );
    let mut csv = String::from("org_id,name,admin_email\n");
    for o in 0..orgs {
        csv.push_str(&format!("{},Org {o},admin@o{o}.example\n", org_id(o)));
    }
    reauth_tests::import_csv(&db.db, &csv).await;
    (sim, config)
}

struct Load {
    rps: f64,
    p50: Duration,
    p99: Duration,
}

async fn load(
    urls: Arc<Vec<String>>,
    key: Option<String>,
    concurrency: usize,
    run: Duration,
) -> Load {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    let ops = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let (client, urls, key, ops) = (client.clone(), urls.clone(), key.clone(), ops.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = w;
            while start.elapsed() < run {
                let t = Instant::now();
                let mut req = client.get(&urls[i % urls.len()]);
                if let Some(k) = &key {
                    req = req.bearer_auth(k);
                }
                let r = req.send().await.unwrap();
                assert!(r.status().is_success());
                r.bytes().await.unwrap();
                lat.push(t.elapsed());
                ops.fetch_add(1, Ordering::Relaxed);
                i += concurrency;
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let secs = start.elapsed().as_secs_f64();
    all.sort();
    Load {
        rps: ops.load(Ordering::Relaxed) as f64 / secs,
        p50: all[all.len() / 2],
        p99: all[all.len() * 99 / 100],
    }
}

async fn token_api() {
    let db = TestDb::sqlite().await;
    let (sim, config) = setup(&db, 100).await;
    sim::connect(&db.db, &config, sim.base_url(), 100 * 10, 100).await;
    let app = TestApp::spawn(&db, config).await;
    let (key, _) =
        domain::security::api_keys::create(&db.db, "bench", &Actor::System, chrono::Utc::now())
            .await
            .unwrap();
    let key = key.expose_secret().to_owned();
    let urls: Arc<Vec<String>> = Arc::new(
        (0..100)
            .map(|o| format!("{}/api/v1/orgs/{}/access-token", app.base, org_id(o)))
            .collect(),
    );
    load(urls.clone(), Some(key.clone()), 8, Duration::from_secs(1)).await; // warm the cache
    let api = load(urls, Some(key), 64, Duration::from_secs(5)).await;

    let bare = axum::Router::new().route(
        "/token",
        axum::routing::get(|| async { axum::Json(serde_json::json!({ "org_id": "00D000000000001EAA", "access_token": "00D000000000001!AQ", "instance_url": "http://x", "issued_at": "2026-11-24T00:00:00Z" })) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/token", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, bare).await.unwrap() });
    let base = load(Arc::new(vec![url]), None, 64, Duration::from_secs(5)).await;
    println!("token API (cached tokens, 100 orgs, 64 concurrent, 5 s, SQLite):");
    println!(
        "  bare axum handler  {:>8.0} req/s  p50 {:?}  p99 {:?}",
        base.rps, base.p50, base.p99
    );
    println!(
        "  GET access-token   {:>8.0} req/s  p50 {:?}  p99 {:?}",
        api.rps, api.p50, api.p99
    );
    println!(
        "  ratio token API / bare handler: {:.2}",
        api.rps / base.rps
    );
    println!(
        "  Salesforce exchanges during the run: {}",
        sim.stats().refresh_ok
    );
    app.stop().await;
}

#[tokio::main]
async fn main() {
    reauth_tests::install_crypto();
    if sim::child().await {
        return;
    }
    stmts::install();
    let backends = std::env::var("VAULT_BENCH_BACKENDS").unwrap_or_default();
    let backend = |b: &str| backends.is_empty() || backends.split(',').any(|x| x.trim() == b);
    if std::env::var("VAULT_BENCH_CASES").is_err() {
        token_api().await;
    }
    let n = std::env::var("VAULT_BENCH_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    if backend("sqlite") {
        sweep::run(TestDb::sqlite().await, "SQLite", n).await;
    }
    if backend("postgres")
        && let Some(pg) = TestDb::postgres().await
    {
        sweep::run(pg, "PostgreSQL", n).await;
    }
    if sweep::wanted("contended")
        && let Some(pg) = TestDb::postgres().await
    {
        contended::run(pg).await;
    }
}
