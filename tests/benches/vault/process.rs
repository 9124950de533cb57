//! The `reauth` processes themselves over N connections (issue 15, goal 5: under 60 MB at rest,
//! under 200 MB at the peak of a sweep): `reauth worker` and `reauth serve` at rest, then the
//! worker's own heartbeat refreshing every connection, with its time and its peak (VmHWM).
//! sfsim runs in its own process, so each figure is the one reauth process alone.
//!
//! Needs the release binary beside the bench: `cargo build --release --bin reauth`.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reauth_tests::TestDb;
use sea_orm::ConnectionTrait as _;

use super::sim::SimProcess;
use super::status_kib;

/// Kills the process when dropped (a failed run leaves nothing behind).
pub(crate) struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    fn kib(&self, field: &str) -> u64 {
        status_kib(&format!("/proc/{}/status", self.0.id()), field)
    }
}

fn binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("reauth");
    assert!(
        bin.is_file(),
        "{} is missing: `cargo build --release --bin reauth` first",
        bin.display()
    );
    bin
}

pub(crate) fn spawn(command: &str, env: &[(&str, String)]) -> Running {
    Running(
        Command::new(binary())
            .arg(command)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    )
}

/// What a `reauth` process needs to run against `db` and the simulator, mail to the log.
pub(crate) fn env(db: &TestDb, sim: &SimProcess, key: &str) -> Vec<(&'static str, String)> {
    vec![
        ("REAUTH_DATABASE_URL", db.url.clone()),
        ("REAUTH_SALESFORCE__CLIENT_ID", "reauth-eca".into()),
        (
            "REAUTH_SALESFORCE__CLIENT_SECRET",
            "reauth-eca-secret".into(),
        ),
        ("REAUTH_SALESFORCE__LOGIN_URL", sim.base_url.clone()),
        (
            "REAUTH_SALESFORCE__EXTRA_LOGIN_HOSTS",
            format!("[\"{}\"]", sim.host_port),
        ),
        ("REAUTH_CRYPTO__KEYS", format!("[\"{key}\"]")),
        ("REAUTH_MAIL__TRANSPORT", "log".into()),
    ]
}

/// Connections still due since [`super::sweep::make_due`].
pub(crate) async fn due(db: &TestDb) -> i64 {
    db.db
        .query_one_raw(sea_orm::Statement::from_string(
            db.db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM connections WHERE next_heartbeat_at <= created_at",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap()
}

pub async fn run(db: &TestDb, sim: &mut SimProcess, key: &str, n: usize, latency: Duration) {
    let concurrency = super::sweep::CONCURRENCY.to_string();
    let mut env = env(db, sim, key);
    env.extend([
        ("REAUTH_HEARTBEAT__SWEEP_EVERY", "2s".into()),
        ("REAUTH_HEARTBEAT__CONCURRENCY", concurrency.clone()),
        ("REAUTH_HEARTBEAT__PER_INSTANCE", concurrency),
        ("REAUTH_BIND", "127.0.0.1:0".into()),
    ]);
    // At rest: nothing is due (every connection was refreshed or seeded within 25 days).
    let worker = spawn("worker", &env);
    let serve = spawn("serve", &env);
    tokio::time::sleep(Duration::from_secs(10)).await;
    println!(
        "  reauth processes at rest with {n} connections: worker {} (peak {}), serve {} (peak {})",
        super::sweep::mib(worker.kib("VmRSS:")),
        super::sweep::mib(worker.kib("VmHWM:")),
        super::sweep::mib(serve.kib("VmRSS:")),
        super::sweep::mib(serve.kib("VmHWM:")),
    );
    drop(serve);

    // The worker's own heartbeat (10,000 rows a sweep, a sweep every 2 s) refreshes everything.
    sim.latency(latency).await;
    super::sweep::make_due(db).await;
    let t = Instant::now();
    let deadline = t + Duration::from_secs(3600);
    while due(db).await > 0 {
        assert!(
            Instant::now() < deadline,
            "the worker did not finish in an hour"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "  reauth worker's heartbeat, latency {latency:?}, concurrency = per_instance = {}: {n} refreshed in {secs:.1} s ({:.0}/s); worker RSS {} at the end, peak {}",
        super::sweep::CONCURRENCY,
        n as f64 / secs,
        super::sweep::mib(worker.kib("VmRSS:")),
        super::sweep::mib(worker.kib("VmHWM:")),
    );
}
