//! Benchmark: the staff dashboard with 100,000 orgs and 1,000,000 events. Measures, over real
//! HTTP with a signed-in session, the overview, a filtered org list, a search, and org pages,
//! against `/healthz` measured in the same run, on SQLite and (when `REAUTH_TEST_POSTGRES_URL`
//! is set) PostgreSQL.
//!
//! Then 20 staff users, each signed in with their own session, load a mix of pages at once
//! (overview, filtered list, search, org page, events) against 20 concurrent clients of
//! `/healthz`: p50/p95 per page and throughput as a ratio to the baseline's.
//!
//! `cargo bench -p reauth-tests --bench dashboard`. Prints figures; asserts nothing.
//! `REAUTH_BENCH_ORGS` and `REAUTH_BENCH_EVENTS` change the sizes; `REAUTH_BENCH_USERS` the
//! number of concurrent staff users (20).
#![expect(
    clippy::disallowed_methods,
    reason = "tests and benchmarks read their own switches (REAUTH_TEST_*, REAUTH_UPDATE_*, bench sizes) from the environment"
)]
#![expect(
    clippy::unwrap_used,
    reason = "test and benchmark code: a failed unwrap stops the run with its location"
)]

use std::time::{Duration, Instant};

use domain::staff::Role;
use rand::{Rng, SeedableRng};
use reauth_tests::{TestApp, TestDb};

mod concurrent;
mod seed;

use concurrent::concurrent;
use seed::{org_id, seed};

pub(crate) const WAVES: usize = 10;
const REQUESTS: usize = 200;
const WARMUP: usize = 20;
/// Requests each concurrent user makes (after one warm-up round of the mix).
pub(crate) const PER_USER: usize = 50;

pub(crate) fn size(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Figures {
    p50: Duration,
    p95: Duration,
    p99: Duration,
}

async fn measure(client: &reqwest::Client, urls: &[String]) -> Figures {
    for u in urls.iter().cycle().take(WARMUP) {
        let r = client.get(u).send().await.unwrap();
        assert_eq!(r.status(), 200, "{u}");
        r.bytes().await.unwrap();
    }
    let mut times = Vec::with_capacity(REQUESTS);
    for u in urls.iter().cycle().take(REQUESTS) {
        let t = Instant::now();
        let r = client.get(u).send().await.unwrap();
        assert_eq!(r.status(), 200, "{u}");
        r.bytes().await.unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    Figures {
        p50: at(0.50),
        p95: at(0.95),
        p99: at(0.99),
    }
}

async fn run(db: TestDb, name: &str) {
    let orgs = size("REAUTH_BENCH_ORGS", 100_000);
    let events = size("REAUTH_BENCH_EVENTS", 1_000_000);
    let seeded = seed(&db, orgs, events).await;
    let mut config = domain::config::Config::default();
    config.crypto.keys = vec![domain::security::crypto::Sealer::generate_key("k1")];
    config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let app = TestApp::spawn(&db, config).await;
    let staff =
        reauth_tests::staff::first_sign_in(&app, "bench@partner.example", Role::Viewer).await;
    let base = &app.base;
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let org_pages: Vec<String> = (0..50)
        .map(|_| format!("{base}/orgs/{}", org_id(rng.gen_range(0..orgs))))
        .collect();
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("baseline GET /healthz", vec![format!("{base}/healthz")]),
        ("overview GET /", vec![format!("{base}/")]),
        (
            "org list, state + wave filter",
            (0..WAVES)
                .map(|w| format!("{base}/orgs?state=pending&wave=w{w}"))
                .collect(),
        ),
        (
            "org list, overdue, sorted by last change",
            vec![format!("{base}/orgs?overdue=1&sort=changed&dir=desc")],
        ),
        (
            "org list, search by name",
            (0..20)
                .map(|_| format!("{base}/orgs?q=customer+{:06}", rng.gen_range(0..orgs)))
                .collect(),
        ),
        ("org page (with its events)", org_pages),
    ];
    println!(
        "\n{name}: {orgs} orgs, {events} events seeded in {:.1} s; {REQUESTS} sequential requests per case after {WARMUP} warm-up",
        seeded.as_secs_f64()
    );
    println!(
        "{:<42} {:>9} {:>9} {:>9} {:>12}",
        "case", "p50 ms", "p95 ms", "p99 ms", "p95/baseline"
    );
    let mut baseline = None;
    for (label, urls) in cases {
        let f = measure(&staff.client, &urls).await;
        let b = *baseline.get_or_insert(f.p95);
        println!(
            "{label:<42} {:>9.2} {:>9.2} {:>9.2} {:>12.1}",
            f.p50.as_secs_f64() * 1e3,
            f.p95.as_secs_f64() * 1e3,
            f.p99.as_secs_f64() * 1e3,
            f.p95.as_secs_f64() / b.as_secs_f64()
        );
    }
    concurrent(&app, orgs, &mut rng).await;
    app.stop().await;
}

#[tokio::main]
async fn main() {
    reauth_tests::install_crypto();
    // `REAUTH_BENCH_SEED_ONLY=/path/file.db` seeds an SQLite file to study query plans, and stops.
    if let Ok(path) = std::env::var("REAUTH_BENCH_SEED_ONLY") {
        let url = format!("sqlite://{path}?mode=rwc");
        let db = domain::db::open(&url).await.unwrap();
        let test_db = TestDb::wrap(db, url);
        let took = seed(
            &test_db,
            size("REAUTH_BENCH_ORGS", 100_000),
            size("REAUTH_BENCH_EVENTS", 1_000_000),
        )
        .await;
        println!("seeded {path} in {:.1} s", took.as_secs_f64());
        return;
    }
    // `REAUTH_BENCH_BACKENDS=postgres` (or `sqlite`) runs one backend only.
    let only = std::env::var("REAUTH_BENCH_BACKENDS").unwrap_or_default();
    if only.is_empty() || only.contains("sqlite") {
        run(TestDb::sqlite().await, "SQLite").await;
    }
    if (only.is_empty() || only.contains("postgres"))
        && let Some(db) = TestDb::postgres().await
    {
        run(db, "PostgreSQL").await;
    }
}
