//! Benchmarks for the token vault (issue 5). Prints figures; asserts nothing.
//!
//! `cargo bench -p reauth-tests --bench vault` (SQLite; set `REAUTH_TEST_POSTGRES_URL` to run the
//! sweep on PostgreSQL as well; `VAULT_BENCH_CONNECTIONS` overrides the 100,000 connections).
//!
//! 1. Token API throughput for cached tokens, against a bare axum handler in the same run.
//! 2. A heartbeat sweep of N due connections against sfsim with 50 ms latency, against the ideal
//!    time `N × latency ÷ concurrency`; memory (RSS) at rest and at peak.
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
use futures::StreamExt as _;
use reauth_tests::{TestApp, TestDb};
use sea_orm::ConnectionTrait;
use secrecy::ExposeSecret;

const CALLBACK: &str = "http://127.0.0.1:9/cb";
const USERS_PER_ORG: usize = 1000;

fn org_id(i: usize) -> String {
    format!("00D{:012}", i + 1)
}

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// A simulator with `orgs` orgs of `USERS_PER_ORG` admins each, and reauth's config for it.
async fn setup(db: &TestDb, orgs: usize) -> (sfsim::Sim, Config) {
    let mut sc = sfsim::Config::default_dataset().with_redirect_uri(CALLBACK);
    sc.orgs.clear();
    sc.settings.auto_approve = true;
    sc.settings.login_rate_per_hour = u32::MAX;
    for o in 0..orgs {
        let users = (0..USERS_PER_ORG)
            .map(|u| sfsim::UserConfig::new(&format!("u{u}@o{o}.example"), true))
            .collect();
        sc = sc.with_org(&org_id(o), &format!("Org {o}"), "production", users);
    }
    let sim = sfsim::Sim::start(sc, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut config = Config::default();
    config.salesforce.client_id = Some("reauth-eca".into());
    config.salesforce.client_secret = Some("reauth-eca-secret".to_owned().into());
    config.salesforce.login_url = sim.base_url().to_owned();
    config.salesforce.extra_login_hosts = vec![sim.host_port().to_owned()];
    config.crypto.keys = vec![domain::security::crypto::Sealer::generate_key("k1")];
    config.database_url = db.url.clone();
    let mut csv = String::from("org_id,name,admin_email\n");
    for o in 0..orgs {
        csv.push_str(&format!("{},Org {o},admin@o{o}.example\n", org_id(o)));
    }
    reauth_tests::import_csv(&db.db, &csv).await;
    (sim, config)
}

/// `n` connections from real code exchanges, spread over the orgs' users.
async fn connect(db: &TestDb, sim: &sfsim::Sim, config: &Config, n: usize, orgs: usize) {
    let sf = domain::salesforce::SfClient::from_config(config)
        .unwrap()
        .unwrap();
    let sealer = domain::security::crypto::Sealer::from_config(&config.crypto).unwrap();
    let login =
        domain::types::LoginUrl::parse(sim.base_url(), &config.salesforce.extra_login_hosts)
            .unwrap();
    let http = reauth_tests::http_client();
    let base = sim.base_url().to_owned();
    let grants: Vec<_> = futures::stream::iter(0..n)
        .map(|i| {
            let (sf, login, http, base) = (sf.clone(), login.clone(), http.clone(), base.clone());
            async move {
                let (o, u) = (i % orgs, i / orgs);
                let pkce = domain::salesforce::Pkce::generate();
                let mut url =
                    url::Url::parse(&format!("{base}/services/oauth2/authorize")).unwrap();
                url.query_pairs_mut()
                    .append_pair("response_type", "code")
                    .append_pair("client_id", "reauth-eca")
                    .append_pair("redirect_uri", CALLBACK)
                    .append_pair("scope", "api refresh_token")
                    .append_pair("code_challenge", &pkce.challenge)
                    .append_pair("login_hint", &format!("u{u}@o{o}.example"));
                let r = http.get(url).send().await.unwrap();
                let loc = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
                let code = loc
                    .query_pairs()
                    .find(|(k, _)| k == "code")
                    .unwrap()
                    .1
                    .into_owned();
                (
                    o,
                    sf.exchange_code(&login, CALLBACK, &code, &pkce.verifier)
                        .await
                        .unwrap(),
                )
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let now = chrono::Utc::now();
    let txn = sea_orm::TransactionTrait::begin(&db.db).await.unwrap();
    for (o, grant) in &grants {
        let org = domain::types::OrgId::parse(&org_id(*o)).unwrap();
        let rt = grant.refresh_token.clone().unwrap();
        let new = domain::vault::store::NewConnection::from_grant(
            &org,
            domain::entity::connection::ConnectionStatus::Active,
            grant,
            &rt,
            config.heartbeat.interval,
        )
        .unwrap();
        domain::vault::store::insert(&txn, new, &sealer, now)
            .await
            .unwrap();
    }
    txn.commit().await.unwrap();
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
    connect(&db, &sim, &config, 100 * 10, 100).await;
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

async fn sweep(db: TestDb, label: &str, n: usize) {
    let latency = Duration::from_millis(50);
    let concurrency = 256;
    let rss_start = rss_kib("VmRSS:");
    let orgs = n.div_ceil(USERS_PER_ORG);
    let (sim, mut config) = setup(&db, orgs).await;
    let t0 = Instant::now();
    connect(&db, &sim, &config, n, orgs).await;
    let setup_secs = t0.elapsed().as_secs_f64();
    config.heartbeat.concurrency = concurrency;
    config.heartbeat.per_instance = concurrency;
    config.salesforce.http_timeout = Duration::from_secs(30);
    let config = Arc::new(config);
    let vault = domain::vault::Vault::from_config(
        db.db.clone(),
        config.clone(),
        domain::time::Clock::system(),
        "bench",
    )
    .unwrap()
    .unwrap();
    db.db
        .execute_unprepared("UPDATE connections SET next_heartbeat_at = created_at")
        .await
        .unwrap();
    let rss_rest = rss_kib("VmRSS:");
    sim.set_faults(sfsim::Faults {
        latency: Some(latency),
        ..Default::default()
    });
    let t = Instant::now();
    let report = domain::vault::heartbeat::sweep(&vault, n as u64)
        .await
        .unwrap();
    let secs = t.elapsed().as_secs_f64();
    let ideal = n as f64 * latency.as_secs_f64() / concurrency as f64;
    let st = sim.stats();
    println!(
        "heartbeat sweep ({label}): {n} due connections, sfsim latency {latency:?}, concurrency {concurrency}"
    );
    println!("  setup (code exchanges + inserts): {setup_secs:.1} s");
    println!(
        "  sweep {secs:.1} s; ideal {ideal:.1} s (connections × latency ÷ concurrency); ratio {:.2}",
        secs / ideal
    );
    println!(
        "  report {report:?}; sfsim refresh_ok {} reuse {} concurrent {}",
        st.refresh_ok, st.reuse_detected, st.concurrent_rejected
    );
    println!(
        "  RSS (whole process: reauth, sfsim and the client): start {} MiB, at rest with {n} connections {} MiB, peak {} MiB",
        rss_start / 1024,
        rss_rest / 1024,
        rss_kib("VmHWM:") / 1024
    );
    sim.shutdown().await;
}

#[tokio::main]
async fn main() {
    reauth_tests::install_crypto();
    token_api().await;
    let n = std::env::var("VAULT_BENCH_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    sweep(TestDb::sqlite().await, "SQLite", n).await;
    if let Some(pg) = TestDb::postgres().await {
        sweep(pg, "PostgreSQL", n).await;
    }
}
