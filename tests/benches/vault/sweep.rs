//! Heartbeat sweeps of N due connections, reauth in this process and sfsim in its own:
//!
//! - **throughput**: sfsim's latency off, so the figure is reauth's database path (claim,
//!   exchange, persist, event) in refreshes per second; its baseline, in the same run, is the
//!   same Salesforce client and concurrency exchanging refresh tokens against the same sfsim
//!   with no database at all;
//! - **sweep**: 50 ms on every answer, `concurrency = per_instance = 256`, against the ideal
//!   `N × latency ÷ concurrency`, and against what the client and sfsim reach on this machine
//!   at that latency with no database (bare exchanges at 50 ms);
//! - **catch-up**: 50 ms, the production default `per_instance = 4` with the connections spread
//!   at random over 50 instances (`concurrency = 256`), against the ideal
//!   `N × latency ÷ min(concurrency, 4 × 50)`;
//! - **durability** (SQLite): the throughput case with `synchronous=FULL` (reauth's setting)
//!   against `NORMAL`, on the same rows.
//!
//! RSS is this process's (reauth's): at rest with N connections, and the peak of each case
//! (VmHWM, reset before each case through `/proc/self/clear_refs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use reauth_tests::TestDb;
use sea_orm::{ConnectionTrait, DatabaseBackend};
use secrecy::{ExposeSecret as _, SecretString};

use super::sim::{self, SimProcess, USERS_PER_ORG};
use super::status_kib;

pub(crate) const CONCURRENCY: usize = 256;
const LATENCY: Duration = Duration::from_millis(50);
const INSTANCES: usize = 50;

fn rss_kib() -> u64 {
    status_kib("/proc/self/status", "VmRSS:")
}

fn peak_kib() -> u64 {
    status_kib("/proc/self/status", "VmHWM:")
}

/// Starts a new peak: VmHWM becomes the current RSS.
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
}

pub(crate) fn mib(kib: u64) -> String {
    format!("{:.0} MiB", kib as f64 / 1024.0)
}

/// Every connection due now.
pub(crate) async fn make_due(db: &TestDb) {
    db.db
        .execute_unprepared("UPDATE connections SET next_heartbeat_at = created_at")
        .await
        .unwrap();
}

/// Every connection on one of `INSTANCES` Salesforce instances, at random (the heartbeat groups
/// by the stored instance URL; refreshes go to the login host whatever it says).
async fn spread_over_instances(db: &TestDb) {
    let pick = match db.db.get_database_backend() {
        DatabaseBackend::Postgres => format!("CAST(floor(random() * {INSTANCES}) AS int)"),
        _ => format!("abs(random()) % {INSTANCES}"),
    };
    db.db
        .execute_unprepared(&format!(
            "UPDATE connections SET instance_url = 'https://inst' || {pick} || '.my.salesforce.com'"
        ))
        .await
        .unwrap();
}

fn vault(
    db: &TestDb,
    config: &domain::config::Config,
    concurrency: usize,
    per_instance: usize,
) -> domain::vault::Vault {
    vault_with(db, config, concurrency, per_instance, Path::Grouped)
}

/// The heartbeat's write paths, compared in one run on the same rows.
#[derive(Clone, Copy, PartialEq)]
enum Path {
    /// Each refresh re-reads and claims its row alone, and persists alone (main until 2026-12-02).
    PerRow,
    /// Claims grouped (`sweep_claim`), each persist its own commit (main until 2026-12-07).
    ClaimsGrouped,
    /// Claims and persists grouped (`persist_queue`): today's path.
    Grouped,
}

impl Path {
    const ALL: [Path; 3] = [Path::PerRow, Path::ClaimsGrouped, Path::Grouped];

    fn name(self) -> &'static str {
        match self {
            Path::PerRow => "per-row claims and persists",
            Path::ClaimsGrouped => "grouped claims, single persists",
            Path::Grouped => "grouped claims and persists (today)",
        }
    }
}

/// As [`vault`], on one of the write paths.
fn vault_with(
    db: &TestDb,
    config: &domain::config::Config,
    concurrency: usize,
    per_instance: usize,
    path: Path,
) -> domain::vault::Vault {
    vault_on(db.db.clone(), config, concurrency, per_instance, path)
}

/// The same SQLite file opened with `synchronous=NORMAL` (reauth opens it with `FULL`).
async fn sqlite_normal(url: &str) -> sea_orm::DatabaseConnection {
    use sea_orm::sqlx::sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
    };
    let opts = <SqliteConnectOptions as std::str::FromStr>::from_str(url)
        .unwrap()
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(opts)
        .await
        .unwrap();
    sea_orm::SqlxSqliteConnector::from_sqlx_sqlite_pool(pool)
}

/// A vault over `db` (its lease pool opened as `db` is), on one of the write paths.
fn vault_on(
    db: sea_orm::DatabaseConnection,
    config: &domain::config::Config,
    concurrency: usize,
    per_instance: usize,
    path: Path,
) -> domain::vault::Vault {
    let mut config = config.clone();
    config.heartbeat.concurrency = concurrency;
    config.heartbeat.per_instance = per_instance;
    config.salesforce.http_timeout = Duration::from_secs(30);
    domain::vault::Vault::with_options(
        db,
        domain::salesforce::SfClient::from_config(&config)
            .unwrap()
            .unwrap(),
        domain::security::crypto::Sealer::from_config(&config.crypto).unwrap(),
        Arc::new(config),
        domain::time::Clock::system(),
        "bench",
        domain::vault::VaultOptions {
            per_row_claims: path == Path::PerRow,
            single_persists: path != Path::Grouped,
            ..Default::default()
        },
    )
}

/// Bare exchanges per second: `CONCURRENCY` chains, each refreshing its own grant for `run`
/// with the same Salesforce client reauth uses, and no database.
async fn bare_exchanges(
    sim: &mut SimProcess,
    config: &domain::config::Config,
    run: Duration,
) -> f64 {
    let tokens = sim.ask(&format!("mint {CONCURRENCY}")).await;
    let sf = domain::salesforce::SfClient::from_config(config)
        .unwrap()
        .unwrap();
    let login = domain::types::LoginUrl::parse(&sim.base_url, &config.salesforce.extra_login_hosts)
        .unwrap();
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let chains = tokens.split_whitespace().map(|t| {
        let (sf, login, done) = (sf.clone(), login.clone(), done.clone());
        let mut rt = SecretString::from(t.to_owned());
        async move {
            while start.elapsed() < run {
                let g = sf.refresh(&login, &rt).await.unwrap();
                rt = g.refresh_token.unwrap();
                done.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    futures::stream::iter(chains)
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

struct Run {
    secs: f64,
    report: domain::vault::heartbeat::SweepReport,
    peak_kib: u64,
}

async fn sweep_all(db: &TestDb, v: &domain::vault::Vault, n: usize) -> Run {
    reset_peak();
    callgrind("on");
    let t = Instant::now();
    let report = domain::vault::heartbeat::sweep(v, n as u64).await.unwrap();
    let secs = t.elapsed().as_secs_f64();
    callgrind("off");
    Run {
        secs,
        report,
        peak_kib: peak_kib(),
    }
    .checked(db, n)
    .await
}

impl Run {
    /// Every connection was refreshed, and is due again only in 25 days.
    async fn checked(self, db: &TestDb, n: usize) -> Self {
        assert_eq!(self.report.refreshed, n, "{:?}", self.report);
        assert_eq!(super::process::due(db).await, 0);
        self
    }
}

/// Under `valgrind --tool=callgrind --collect-atstart=no`, with `VAULT_BENCH_CALLGRIND=1`:
/// collects only while a sweep runs (setup, seeding and the bare baseline stay out of the profile).
fn callgrind(state: &str) {
    if std::env::var("VAULT_BENCH_CALLGRIND").is_ok() {
        let ok = std::process::Command::new("callgrind_control")
            .args(["-i", state, &std::process::id().to_string()])
            .stdout(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        eprintln!("callgrind instrumentation {state}: {ok}");
    }
}

/// Which cases to run: `VAULT_BENCH_CASES=throughput,durability,statements,sweep,catchup,process,contended`
/// (default all).
pub(crate) fn wanted(case: &str) -> bool {
    std::env::var("VAULT_BENCH_CASES")
        .map(|v| v.split(',').any(|c| c.trim() == case))
        .unwrap_or(true)
}

pub async fn run(db: TestDb, label: &str, n: usize) {
    let orgs = n.div_ceil(USERS_PER_ORG);
    let mut csv = String::from("org_id,name,admin_email\n");
    for o in 0..orgs {
        csv.push_str(&format!("{},Org {o},admin@o{o}.example\n", sim::org_id(o)));
    }
    reauth_tests::import_csv(&db.db, &csv).await;
    let mut sim = SimProcess::spawn(orgs, USERS_PER_ORG).await;
    let key = domain::security::crypto::Sealer::generate_key("k1");
    // `VAULT_BENCH_SEED=mint`: grants minted inside sfsim, for sizes whose code exchanges would
    // take most of an hour (1,000,000).
    let seed = match std::env::var("VAULT_BENCH_SEED").as_deref() {
        Ok("mint") => "seed-minted",
        _ => "seed",
    };
    let seeded = sim
        .ask(&format!("{seed} {n} {} {}", db.url, key.expose_secret()))
        .await;
    let key_text = key.expose_secret().to_owned();
    let config = sim::config(&sim.base_url, &sim.host_port, &db.url, key);
    println!(
        "heartbeat ({label}): {n} connections; setup ({}, in the sfsim process): {} s",
        if seed == "seed" {
            "code exchanges + inserts"
        } else {
            "grants minted in sfsim + inserts"
        },
        seeded.trim_start_matches("seeded ")
    );

    // At rest: a vault over N connections, nothing due.
    let idle = vault(&db, &config, 16, 4);
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!(
        "  RSS of this process (reauth alone) at rest with {n} connections: {} (sfsim's process: {})",
        mib(rss_kib()),
        mib(sim.rss_kib())
    );
    drop(idle);

    if wanted("throughput") {
        sim.latency(Duration::ZERO).await;
        let bare = bare_exchanges(&mut sim, &config, Duration::from_secs(3)).await;
        // The older paths first (the baselines), then today's, on the same rows in the same run.
        let mut rates = Vec::new();
        for path in Path::ALL {
            make_due(&db).await;
            let v = vault_with(&db, &config, CONCURRENCY, CONCURRENCY, path);
            let r = sweep_all(&db, &v, n).await;
            let rate = n as f64 / r.secs;
            let versus = match rates.last() {
                Some(prev) => format!(", {:.2}× the path above", rate / prev),
                None => String::new(),
            };
            rates.push(rate);
            println!(
                "  throughput, latency off, concurrency {CONCURRENCY}, {}{versus}: {rate:.0} refreshes/s ({:.1} s); bare exchanges (same client, no database) {bare:.0}/s; ratio {:.2}; peak RSS {}",
                path.name(),
                r.secs,
                rate / bare,
                mib(r.peak_kib)
            );
        }
    }
    if wanted("durability") && db.db.get_database_backend() == DatabaseBackend::Sqlite {
        // What `synchronous=FULL` (reauth's setting: every commit synced) costs against
        // `NORMAL` (a power loss may roll back the last commits), on today's path.
        sim.latency(Duration::ZERO).await;
        let mut rates = Vec::new();
        for (name, normal) in [("FULL (today)", false), ("NORMAL", true)] {
            make_due(&db).await;
            let v = if normal {
                let normal = sqlite_normal(&db.url).await;
                vault_on(normal, &config, CONCURRENCY, CONCURRENCY, Path::Grouped)
            } else {
                vault(&db, &config, CONCURRENCY, CONCURRENCY)
            };
            let r = sweep_all(&db, &v, n).await;
            rates.push(n as f64 / r.secs);
            println!(
                "  throughput, SQLite synchronous={name}: {:.0} refreshes/s ({:.1} s)",
                n as f64 / r.secs,
                r.secs
            );
        }
        println!("  FULL / NORMAL: {:.2}", rates[0] / rates[1]);
    }
    if wanted("statements") {
        // The throughput case again, counting every SQL statement (`stmts`).
        sim.latency(Duration::ZERO).await;
        for path in Path::ALL {
            make_due(&db).await;
            let v = vault_with(&db, &config, CONCURRENCY, CONCURRENCY, path);
            super::stmts::count();
            let r = sweep_all(&db, &v, n).await;
            println!(
                "  statements, latency off, concurrency {CONCURRENCY}, {}: {:.0} refreshes/s while counting ({:.1} s)",
                path.name(),
                n as f64 / r.secs,
                r.secs
            );
            super::stmts::report(r.report.refreshed);
        }
    }
    if wanted("sweep") {
        sim.latency(LATENCY).await;
        // What this machine can do with no database at all: the same client and concurrency at
        // the same latency (sfsim and the client share the cores with reauth).
        let bare = bare_exchanges(&mut sim, &config, Duration::from_secs(5)).await;
        make_due(&db).await;
        let v = vault(&db, &config, CONCURRENCY, CONCURRENCY);
        let r = sweep_all(&db, &v, n).await;
        let ideal = n as f64 * LATENCY.as_secs_f64() / CONCURRENCY as f64;
        let floor = n as f64 / bare;
        println!(
            "  sweep, latency {LATENCY:?}, concurrency = per_instance = {CONCURRENCY}: {:.1} s; ideal {ideal:.1} s; ratio {:.2}; bare exchanges at the same latency {bare:.0}/s, so {floor:.1} s without a database (ratio to that {:.2}); peak RSS {}",
            r.secs,
            r.secs / ideal,
            r.secs / floor,
            mib(r.peak_kib)
        );
    }
    if wanted("catchup") {
        sim.latency(LATENCY).await;
        make_due(&db).await;
        spread_over_instances(&db).await;
        let v = vault(&db, &config, CONCURRENCY, 4);
        let r = sweep_all(&db, &v, n).await;
        let slots = CONCURRENCY.min(4 * INSTANCES);
        let ideal = n as f64 * LATENCY.as_secs_f64() / slots as f64;
        println!(
            "  catch-up, latency {LATENCY:?}, per_instance 4 over {INSTANCES} instances, concurrency {CONCURRENCY}: {:.1} s; ideal {ideal:.1} s ({slots} in flight); ratio {:.2}; peak RSS {}",
            r.secs,
            r.secs / ideal,
            mib(r.peak_kib)
        );
    }
    if wanted("process") {
        super::process::run(&db, &mut sim, &key_text, n, Duration::ZERO).await;
    }
    sim.finish().await;
}
