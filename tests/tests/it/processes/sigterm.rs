//! `reauth serve` stopped with SIGTERM while exchanges are in flight: it drains them first.

use std::process::{Command, Stdio};
use std::time::Duration;

use domain::entity::connection::ConnectionStatus;
use domain::events::Actor;
use domain::vault::Trigger;
use reauth_tests::{TestApp, TestDb};
use sea_orm::EntityTrait;
use secrecy::ExposeSecret;

use super::Children;

/// SIGTERM while sixteen exchanges are in flight — as many as one process admits at once
/// (`vault::admit::DEMAND_IN_FLIGHT`) — whose callers have already gone away (their HTTP
/// requests timed out): `serve` drains them before exiting — every rotation is stored, none is
/// presented twice afterwards.
async fn sigterm_drains_exchanges(db: TestDb) {
    const N: usize = 16;
    let sim = sfsim::Sim::start(
        reauth_tests::seed::sim_config(N),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    reauth_tests::seed::import_orgs(&db.db, N).await;
    let config = reauth_tests::seed::vault_config(&sim, &db.url);
    let ids = reauth_tests::seed::connect_all(&db.db, &sim, &config, N).await;
    let before: std::collections::HashMap<i64, i64> = domain::entity::connection::Entity::find()
        .all(&db.db)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.id, c.version))
        .collect();
    let (api_key, _) =
        domain::security::api_keys::create(&db.db, "load", &Actor::System, chrono::Utc::now())
            .await
            .unwrap();
    // Salesforce is slow now: each exchange takes 3 s.
    sim.set_faults(sfsim::Faults {
        latency: Some(Duration::from_millis(3000)),
        ..Default::default()
    });
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let out = std::fs::File::create(&log).unwrap();
    // Killed and reaped if the test fails before the SIGTERM below.
    let mut server = Children::new([Command::new(reauth_tests::reauth_bin())
        .args(["serve", "--no-worker"])
        .env_clear()
        .envs([
            ("REAUTH_DATABASE_URL", db.url.clone()),
            ("REAUTH_BIND", format!("127.0.0.1:{port}")),
            ("REAUTH_BASE_URL", base.clone()),
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
            // The seeded grants were just made: no debounce of the forced refreshes below.
            ("REAUTH_HEARTBEAT__MIN_GAP", "1ms".into()),
            (
                "REAUTH_CRYPTO__KEYS",
                format!("[\"{}\"]", config.crypto.keys[0].expose_secret()),
            ),
            ("RUST_LOG", "info".into()),
        ])
        .stdout(Stdio::null())
        .stderr(out)
        .spawn()
        .unwrap()]);
    let http = reauth_tests::http_client();
    let started = std::time::Instant::now();
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "serve did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The callers ask for a refresh and give up after a second, long before Salesforce answers.
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(1000))
        .build()
        .unwrap();
    let calls = (0..N).map(|i| {
        let (c, base, key) = (
            impatient.clone(),
            base.clone(),
            api_key.expose_secret().to_owned(),
        );
        async move {
            c.post(format!(
                "{base}/api/v1/orgs/{}/access-token/refresh",
                reauth_tests::seed::org_id(i)
            ))
            .bearer_auth(key)
            .send()
            .await
            .is_err()
        }
    });
    let gave_up = futures::future::join_all(calls).await;
    assert!(gave_up.iter().all(|g| *g), "every caller went away");
    let refreshing = domain::entity::connection::Entity::find()
        .all(&db.db)
        .await
        .unwrap()
        .iter()
        .filter(|c| c.status == ConnectionStatus::Refreshing)
        .count();
    assert_eq!(
        refreshing, N,
        "every admitted exchange is in flight, its caller gone"
    );
    let term = Command::new("kill")
        .args(["-TERM", &server[0].id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = server[0].wait().unwrap();
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "{status:?}\n{log_text}");
    let conns = domain::entity::connection::Entity::find()
        .all(&db.db)
        .await
        .unwrap();
    for c in &conns {
        assert_eq!(c.status, ConnectionStatus::Active, "{c:?}\n{log_text}");
        assert!(
            c.version > before[&c.id],
            "connection {} was refreshed",
            c.id
        );
    }
    assert_eq!(sim.stats().refresh_ok, N as u64);
    // Every stored token is the rotated one: each refreshes once more, nothing is reused.
    sim.set_faults(sfsim::Faults::default());
    let app = TestApp::spawn(&db, config).await;
    let vault = app.state.vault.clone().unwrap();
    for id in ids {
        assert!(vault.refresh(id, Trigger::Forced).await.unwrap().is_ok());
    }
    let st = sim.stats();
    assert_eq!((st.reuse_detected, st.refresh_ok), (0, 2 * N as u64));
    app.stop().await;
}

reauth_tests::both_backends!(
    sigterm_during_in_flight_exchanges_persists_every_rotation,
    sigterm_drains_exchanges
);
