//! A background job never overlaps itself in one worker process. The heartbeat's
//! `concurrency` and `per_instance` bound one sweep; a sweep that outlasts `sweep_every` must not
//! be joined by the next tick's sweep, or the process sends Salesforce several times the calls
//! per instance it was configured for (and a SIGKILL loses as many more rotations in flight).

use std::time::Duration;

use reauth_tests::TestDb;
use reauth_tests::seed;
use sea_orm::ConnectionTrait as _;
use secrecy::ExposeSecret as _;

use crate::processes::{Children, spawn_worker};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_heartbeat_sweep_is_not_joined_by_the_next_ticks_sweep() {
    const N: usize = 24;
    const CONCURRENCY: u64 = 3;
    let db = TestDb::sqlite().await;
    let sim = sfsim::Sim::start(seed::sim_config(N), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    seed::import_orgs(&db.db, N).await;
    let config = seed::vault_config(&sim, &db.url);
    seed::connect_all(&db.db, &sim, &config, N).await;
    db.db
        .execute_unprepared("UPDATE connections SET next_heartbeat_at = '2000-01-01 00:00:00'")
        .await
        .unwrap();
    // Each refresh takes 2 s; a sweep of 24 rows three at a time takes about 16 s, and a tick
    // comes every second.
    sim.set_faults(sfsim::Faults {
        latency: Some(Duration::from_secs(2)),
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let key = config.crypto.keys[0].expose_secret().to_owned();
    let env: Vec<(String, String)> = [
        ("REAUTH_DATABASE_URL", db.url.clone()),
        ("REAUTH_SALESFORCE__CLIENT_ID", "reauth-eca".into()),
        (
            "REAUTH_SALESFORCE__CLIENT_SECRET",
            "reauth-eca-secret".into(),
        ),
        ("REAUTH_SALESFORCE__LOGIN_URL", sim.base_url().into()),
        (
            "REAUTH_SALESFORCE__EXTRA_LOGIN_HOSTS",
            format!("[\"{}\"]", sim.host_port()),
        ),
        ("REAUTH_SALESFORCE__HTTP_TIMEOUT", "10s".into()),
        ("REAUTH_CRYPTO__KEYS", format!("[\"{key}\"]")),
        ("REAUTH_HEARTBEAT__SWEEP_EVERY", "1s".into()),
        ("REAUTH_HEARTBEAT__CONCURRENCY", CONCURRENCY.to_string()),
        ("REAUTH_HEARTBEAT__PER_INSTANCE", CONCURRENCY.to_string()),
        (
            "REAUTH_MAIL__TRANSPORT",
            format!("file://{}", dir.path().join("mail").display()),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let _worker = Children::new([spawn_worker(&env, &dir.path().join("worker.log"))]);
    // Long enough for several ticks to fall inside the first sweep, and for its first
    // refreshes to finish.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let st = sim.stats();
    assert!(st.refresh_ok >= CONCURRENCY, "the sweep ran: {st:?}");
    assert!(
        st.peak_refreshes_in_flight <= CONCURRENCY,
        "one process had {} refreshes in flight at once; heartbeat.concurrency is {CONCURRENCY}",
        st.peak_refreshes_in_flight
    );
}
