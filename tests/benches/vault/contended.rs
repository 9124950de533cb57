//! `contended` (issue 15, goal 2; PostgreSQL): the token API under contention, in a release
//! build — `reauth serve` and 8 `reauth worker` processes over 1,000 connections (one an org),
//! 200 callers forcing refreshes, sfsim in its own process answering in 5 ms. The kill test runs
//! the same load in a dev build with SIGKILLs; this is the quiet measurement.
//!
//! Three phases of [`PHASE`] each, on the same rows, with the same 16 callers reading cached
//! tokens of orgs the forcing callers never touch:
//!
//! 1. the cached readers alone (their baseline);
//! 2. plus 200 callers forcing refreshes (`POST …/access-token/refresh`), no workers;
//! 3. the same, with 8 workers whose heartbeat (interval 3 s, a sweep every second) refreshes
//!    every connection all the time.
//!
//! Each phase prints the answers by status and the calls' p50 / p99 / max; the last line is the
//! serve process's own count of answers that missed `api.deadline` (15 s), read from `/metrics`.
//! Asserts that sfsim saw no token presented twice.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use domain::events::Actor;
use reauth_tests::TestDb;
use secrecy::ExposeSecret as _;

use super::process::{Running, env, spawn};
use super::sim::{SimProcess, org_id};

/// Connections, one an org.
const ORGS: usize = 1000;
/// Orgs read by the cached callers, out of the forcing callers' way: the last ones.
const CACHED_ORGS: usize = 100;
const WORKERS: usize = 8;
const FORCING: usize = 200;
const CACHED: usize = 16;
const PHASE: Duration = Duration::from_secs(20);

/// What one group of callers saw in a phase.
#[derive(Default)]
struct Seen {
    statuses: BTreeMap<u16, u32>,
    took: Vec<Duration>,
}

impl Seen {
    fn add(&mut self, other: Seen) {
        for (k, v) in other.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        self.took.extend(other.took);
    }

    /// p50 / p99 / max, in ms.
    fn percentiles(&mut self) -> (f64, f64, f64) {
        self.took.sort();
        let at = |q: usize| {
            self.took
                .get((self.took.len() * q / 100).min(self.took.len().saturating_sub(1)))
                .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
        };
        (at(50), at(99), at(100))
    }

    fn line(&mut self, what: &str) -> f64 {
        let (p50, p99, max) = self.percentiles();
        let secs = PHASE.as_secs_f64();
        println!(
            "    {what}: {} answers ({:.0}/s) {:?}; p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms",
            self.took.len(),
            self.took.len() as f64 / secs,
            self.statuses
        );
        p99
    }
}

/// Callers hitting `path(org)` with `method` until `stop`, `pause` between calls.
fn callers(
    n: usize,
    base: &str,
    key: &str,
    orgs: std::ops::Range<usize>,
    force: bool,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Seen>> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(n)
        .build()
        .unwrap();
    (0..n)
        .map(|c| {
            let (client, base, key, stop, orgs) = (
                client.clone(),
                base.to_owned(),
                key.to_owned(),
                stop.clone(),
                orgs.clone(),
            );
            tokio::spawn(async move {
                let mut seen = Seen::default();
                let mut i = c;
                while !stop.load(Ordering::Relaxed) {
                    let org = org_id(orgs.start + i % orgs.len());
                    i = i.wrapping_mul(31).wrapping_add(7);
                    let t = Instant::now();
                    let r = if force {
                        client.post(format!("{base}/api/v1/orgs/{org}/access-token/refresh"))
                    } else {
                        client.get(format!("{base}/api/v1/orgs/{org}/access-token"))
                    }
                    .bearer_auth(&key)
                    .send()
                    .await;
                    let code = match r {
                        Ok(r) => {
                            let code = r.status().as_u16();
                            r.bytes().await.ok();
                            code
                        }
                        Err(_) => 0,
                    };
                    seen.took.push(t.elapsed());
                    *seen.statuses.entry(code).or_default() += 1;
                    if force {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                seen
            })
        })
        .collect()
}

async fn gather(tasks: Vec<tokio::task::JoinHandle<Seen>>) -> Seen {
    let mut all = Seen::default();
    for t in tasks {
        all.add(t.await.unwrap());
    }
    all
}

/// A free port on the loopback interface.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `reauth_api_deadline_missed_total` from `/metrics` (absent: none counted yet).
async fn deadline_misses(base: &str) -> u64 {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("reauth_api_deadline_missed_total "))
        .map_or(0, |v| v.trim().parse::<f64>().unwrap() as u64)
}

pub async fn run(db: TestDb) {
    let mut csv = String::from("org_id,name,admin_email\n");
    for o in 0..ORGS {
        csv.push_str(&format!("{},Org {o},u0@o{o}.example\n", org_id(o)));
    }
    reauth_tests::import_csv(&db.db, &csv).await;
    let mut sim = SimProcess::spawn(ORGS, 1).await;
    let key = domain::security::crypto::Sealer::generate_key("k1");
    sim.ask(&format!("seed {ORGS} {} {}", db.url, key.expose_secret()))
        .await;
    sim.latency(Duration::from_millis(5)).await;
    let (api_key, _) =
        domain::security::api_keys::create(&db.db, "bench", &Actor::System, chrono::Utc::now())
            .await
            .unwrap();
    let api_key = api_key.expose_secret().to_owned();

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut env = env(&db, &sim, key.expose_secret());
    env.extend([
        ("REAUTH_HEARTBEAT__INTERVAL", "3s".into()),
        ("REAUTH_HEARTBEAT__MIN_GAP", "1s".into()),
        ("REAUTH_HEARTBEAT__SWEEP_EVERY", "1s".into()),
        ("REAUTH_HEARTBEAT__CONCURRENCY", "16".into()),
        ("REAUTH_HEARTBEAT__PER_INSTANCE", "16".into()),
        ("REAUTH_BIND", format!("127.0.0.1:{port}")),
    ]);
    let _serve = spawn("serve", &env);
    let ready = Instant::now() + Duration::from_secs(30);
    while reqwest::get(format!("{base}/healthz")).await.is_err() {
        assert!(Instant::now() < ready, "reauth serve did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "token API under contention (PostgreSQL, release build): {ORGS} connections, sfsim at 5 ms in its own process, `reauth serve` with the production defaults (api.deadline 15 s), phases of {} s",
        PHASE.as_secs()
    );
    let cached_orgs = ORGS - CACHED_ORGS..ORGS;
    // Warm the cached readers' tokens.
    let stop = Arc::new(AtomicBool::new(false));
    let warm = callers(CACHED, &base, &api_key, cached_orgs.clone(), false, &stop);
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    gather(warm).await;

    let mut cached_p99 = Vec::new();
    let mut forced_p99 = Vec::new();
    let mut workers: Vec<Running> = Vec::new();
    for phase in [
        "cached readers alone",
        "+ 200 forcing, no workers",
        "+ 8 workers",
    ] {
        if phase == "+ 8 workers" {
            workers = (0..WORKERS).map(|_| spawn("worker", &env)).collect();
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let cached = callers(CACHED, &base, &api_key, cached_orgs.clone(), false, &stop);
        let forcing = (phase != "cached readers alone")
            .then(|| callers(FORCING, &base, &api_key, 0..ORGS - CACHED_ORGS, true, &stop));
        let before = sim.stats().await.refresh_ok;
        tokio::time::sleep(PHASE).await;
        stop.store(true, Ordering::Relaxed);
        let exchanges = sim.stats().await.refresh_ok - before;
        println!(
            "  {phase} ({exchanges} exchanges at sfsim, {:.0}/s):",
            exchanges as f64 / PHASE.as_secs_f64()
        );
        cached_p99.push(
            gather(cached)
                .await
                .line(&format!("{CACHED} cached readers (GET)")),
        );
        if let Some(f) = forcing {
            forced_p99.push(
                gather(f)
                    .await
                    .line(&format!("{FORCING} forcing (POST …/refresh)")),
            );
        }
    }
    drop(workers);
    println!(
        "  cached readers' p99 under contention / alone: {:.2} (no workers) and {:.2} (8 workers); forcing callers' p99 with workers / without: {:.2}",
        cached_p99[1] / cached_p99[0],
        cached_p99[2] / cached_p99[0],
        forced_p99[1] / forced_p99[0]
    );
    println!(
        "  answers that missed api.deadline (reauth serve's own count): {}",
        deadline_misses(&base).await
    );
    sim.finish().await;
}
