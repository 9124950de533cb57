//! Benchmark: an incident over 1,000 orgs against sfsim answering every call after 50 ms, on
//! both of its paths, against the ideal in the same run — orgs × latency ÷ concurrency
//! (`heartbeat.concurrency` = `heartbeat.per_instance` = 16, one sfsim instance) — and against
//! the same run with no latency at all (what reauth's own work costs: the database writes).
//!
//! - `--revoke`: `incident start --revoke`, the worker's revocation pass (claim, retire under an
//!   admin lease, revoke at Salesforce, finish the row, move the org to `needs_reauth` and into
//!   the emergency wave), then the scheduler and the sender (SMTP) until every org was told.
//! - secret rotation: the consumer secret rotated (at sfsim and in reauth), Salesforce revoked
//!   every grant of the app, `incident start` without `--revoke`; the heartbeat finds each
//!   refusal (one refresh each), the incident job enrols the orgs into the emergency wave, the
//!   scheduler and the sender tell them.
//!
//! `cargo bench -p reauth-tests --bench incident`. PostgreSQL when `REAUTH_TEST_POSTGRES_URL` is
//! set, else SQLite. Prints figures; asserts that every grant was revoked once and every org was
//! sent exactly one message.

#![expect(
    clippy::unwrap_used,
    reason = "test and benchmark code: a failed unwrap stops the run with its location"
)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::events::Actor;
use domain::security::incident::{emergency, incidents, revoke};
use reauth_tests::smtp::SmtpSink;
use reauth_tests::{TestDb, seed};
use sea_orm::ConnectionTrait as _;

const N: usize = 1000;
const LATENCY: Duration = Duration::from_millis(50);
const CONCURRENCY: usize = 16;

struct Fleet {
    db: TestDb,
    sim: sfsim::Sim,
    sink: SmtpSink,
    config: Arc<domain::config::Config>,
    vault: domain::vault::Vault,
}

async fn test_db() -> TestDb {
    match TestDb::postgres().await {
        Some(db) => db,
        None => TestDb::sqlite().await,
    }
}

/// `N` verified customers with a live grant each; sfsim answers after `latency` from then on.
/// `rotate`: the consumer secret was rotated (sfsim accepts only the new one, reauth uses it).
async fn fleet(latency: Duration, rotate: bool) -> Fleet {
    let db = test_db().await;
    let sim = sfsim::Sim::start(seed::sim_config(N), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    seed::import_orgs(&db.db, N).await;
    let sink = SmtpSink::start().await;
    let mut config = seed::vault_config(&sim, &db.url);
    config.heartbeat.concurrency = CONCURRENCY;
    config.heartbeat.per_instance = CONCURRENCY;
    config.mail.transport = sink.url();
    seed::connect_all(&db.db, &sim, &config, N).await;
    db.db
        .execute_unprepared("UPDATE orgs SET state = 'verified'")
        .await
        .unwrap();
    if rotate {
        assert!(sim.set_client_secret("reauth-eca", "reauth-eca-secret-2", false));
        config.salesforce.client_secret = Some("reauth-eca-secret-2".to_owned().into());
    }
    // The latency from here on: the grants above were made without it.
    let mut faults = sim.config().faults.clone();
    faults.latency = (!latency.is_zero()).then_some(latency);
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
    Fleet {
        db,
        sim,
        sink,
        config,
        vault,
    }
}

/// The scheduler, then the sender; answers how many messages the sender handed to SMTP.
async fn schedule_and_send(f: &Fleet) -> u32 {
    let now = chrono::Utc::now();
    domain::campaign::schedule(&f.db.db, now, None)
        .await
        .unwrap();
    let mailer = domain::mail::Mailer::from_config(&f.config.mail).unwrap();
    let sealer = domain::security::crypto::Sealer::from_config(&f.config.crypto).unwrap();
    let sender = domain::campaign::notices::Sender {
        mailer: &mailer,
        sealer: &sealer,
        config: &f.config,
        owner: "bench",
    };
    let r = domain::campaign::notices::send_due(&f.db.db, &sender, now, 10_000)
        .await
        .unwrap();
    assert!(!r.held, "the breaker held the incident's notices");
    r.sent
}

/// Runs the scheduler and the sender until every org was sent its message (or a few rounds
/// found nothing more to send).
async fn notify_all(f: &Fleet) {
    for _ in 0..5 {
        schedule_and_send(f).await;
        if f.sink.messages().len() >= N {
            return;
        }
    }
}

/// Messages received over SMTP, and the distinct recipients among them.
fn notices(sink: &SmtpSink) -> (usize, usize) {
    let msgs = sink.messages();
    let to: BTreeSet<String> = msgs.iter().flat_map(|m| m.to.clone()).collect();
    for m in &msgs {
        let subject = m.header("Subject").unwrap_or_default();
        assert!(
            subject.contains("Security notice"),
            "only the incident's message: {subject}"
        );
    }
    (msgs.len(), to.len())
}

fn revoked_for(sim: &sfsim::Sim, reason: &str) -> u64 {
    sim.stats()
        .revoked_by_reason
        .get(reason)
        .copied()
        .unwrap_or(0)
}

/// One path's figures.
struct Run {
    /// (phase, time) in order.
    phases: Vec<(&'static str, Duration)>,
    total: Duration,
    /// Grants sfsim counts as revoked for this path's reason.
    revoked: u64,
    sent: usize,
    recipients: usize,
}

async fn revoke_path(latency: Duration) -> Run {
    let f = fleet(latency, false).await;
    let t = Instant::now();
    let started = incidents::start(&f.db.db, &f.config, &Actor::System, "bench", true, now())
        .await
        .unwrap();
    assert_eq!(started.to_revoke, N as u64);
    let start = t.elapsed();
    let mut passes = 0;
    loop {
        revoke::run(&f.vault, &Actor::System).await.unwrap();
        passes += 1;
        let p = incidents::current(&f.db.db)
            .await
            .unwrap()
            .unwrap()
            .progress;
        if p.pending + p.revoking == 0 {
            assert_eq!((p.revoked, p.failed), (N as u64, 0), "{p:?}");
            break;
        }
        assert!(passes < 50, "the pass does not finish: {p:?}");
    }
    let revoked = t.elapsed();
    notify_all(&f).await;
    let total = t.elapsed();
    let (sent, recipients) = notices(&f.sink);
    Run {
        phases: vec![
            ("start (incident, wave, pending rows)", start),
            ("revocation pass", revoked - start),
            ("schedule + send (SMTP)", total - revoked),
        ],
        total,
        revoked: revoked_for(&f.sim, "revoke_endpoint"),
        sent,
        recipients,
    }
}

async fn rotation_path(latency: Duration) -> Run {
    let f = fleet(latency, true).await;
    // Salesforce revokes every grant of the app (as it did to a partner in November 2025).
    assert_eq!(f.sim.revoke_share(1.0).unwrap(), N);
    f.db.db
        .execute_unprepared("UPDATE connections SET next_heartbeat_at = created_at")
        .await
        .unwrap();
    let t = Instant::now();
    let started = incidents::start(&f.db.db, &f.config, &Actor::System, "bench", false, now())
        .await
        .unwrap();
    assert_eq!(started.to_revoke, 0);
    let start = t.elapsed();
    let (mut sweep, mut enrol, mut notify) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let mut found = 0;
    for round in 0.. {
        assert!(round < 20, "not finished: {found} refusals found");
        let s = Instant::now();
        let r = domain::vault::heartbeat::sweep(&f.vault, N as u64)
            .await
            .unwrap();
        assert_eq!(r.paused, 0, "the breaker paused the heartbeat: {r:?}");
        found += r.needs_reauth;
        sweep += s.elapsed();
        let s = Instant::now();
        emergency::enroll_refused(&f.db.db, &Actor::System, now())
            .await
            .unwrap();
        enrol += s.elapsed();
        let s = Instant::now();
        notify_all(&f).await;
        notify += s.elapsed();
        if found >= N && f.sink.messages().len() >= N {
            break;
        }
    }
    let total = t.elapsed();
    let (sent, recipients) = notices(&f.sink);
    assert_eq!(f.sim.stats().refresh_ok, 0);
    Run {
        phases: vec![
            ("start (incident, wave)", start),
            ("heartbeat (one refused refresh each)", sweep),
            ("enrolment into the wave", enrol),
            ("schedule + send (SMTP)", notify),
        ],
        total,
        revoked: revoked_for(&f.sim, "admin"),
        sent,
        recipients,
    }
}

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

fn report(path: &str, slow: &Run, fast: &Run) {
    let ideal = LATENCY * u32::try_from(N / CONCURRENCY).unwrap();
    println!("{path}: {N} orgs, sfsim latency {LATENCY:?}, {CONCURRENCY} at a time");
    for ((name, d), (_, d0)) in slow.phases.iter().zip(&fast.phases) {
        println!("  {name:<40} {d:>10.2?}   (no latency: {d0:>10.2?})");
    }
    println!(
        "  measured (start to every org told)       {:>10.2?}",
        slow.total
    );
    println!("  ideal (orgs x latency / concurrency)     {ideal:>10.2?}");
    println!(
        "  ratio measured / ideal                   {:>10.2}",
        slow.total.as_secs_f64() / ideal.as_secs_f64()
    );
    println!(
        "  same run with no latency (reauth's own)  {:>10.2?}",
        fast.total
    );
    println!(
        "  measured - no-latency run vs ideal       {:>10.2}",
        (slow.total.as_secs_f64() - fast.total.as_secs_f64()) / ideal.as_secs_f64()
    );
    for r in [slow, fast] {
        println!(
            "  sfsim revoked {} of {N} grants; {} notices sent to {} of {N} orgs",
            r.revoked, r.sent, r.recipients
        );
        assert_eq!(r.revoked, N as u64, "every grant revoked once");
        assert_eq!(
            (r.sent, r.recipients),
            (N, N),
            "every org told exactly once"
        );
    }
}

#[tokio::main]
async fn main() {
    reauth_tests::install_crypto();
    let backend = if reauth_tests::postgres_url().is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!("incident benchmark on {backend}");
    let revoke_slow = revoke_path(LATENCY).await;
    let revoke_fast = revoke_path(Duration::ZERO).await;
    report("incident start --revoke", &revoke_slow, &revoke_fast);
    let rotation_slow = rotation_path(LATENCY).await;
    let rotation_fast = rotation_path(Duration::ZERO).await;
    report(
        "incident start (secret rotated, Salesforce revoked every grant)",
        &rotation_slow,
        &rotation_fast,
    );
}
