//! The token API's cached path against a bare axum handler (issue 15, goal 1). Prints figures;
//! asserts nothing but that every answer was a 200.
//!
//! `cargo bench -p reauth-tests --bench token_api`
//!
//! 100 orgs, one live connection each, their tokens in the vault's cache (a warm-up round fills
//! it). The same reqwest client and the same number of concurrent callers then alternate between
//! a bare axum handler that builds the same JSON body and reauth's real router
//! (`GET /api/v1/orgs/{id}/access-token` with an API key), `ROUNDS` times each, so the two share
//! the machine's noise. Both sides get the same requests (path and `Authorization` header). Logging is set up as `reauth serve` sets it up (fmt, `info`), writing to
//! nowhere, so per-request span work is paid as in production.
//!
//! Switches: `TOKEN_API_BENCH_SECS` (per round, default 3), `TOKEN_API_BENCH_ROUNDS` (default 3),
//! `TOKEN_API_BENCH_CONCURRENCY` (default 64), and `TOKEN_API_BENCH_REQUESTS=N` to send exactly
//! N requests per side instead (for `valgrind --tool=callgrind`, where time means nothing), and
//! `TOKEN_API_BENCH_SIDE=bare|api` to run one side only (two callgrind runs of one side with
//! different N give that side's instructions per request, free of the set-up's).
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
use secrecy::ExposeSecret;

const CALLBACK: &str = "http://127.0.0.1:9/cb";
const ORGS: usize = 100;

fn org_id(i: usize) -> String {
    format!("00D{:012}", i + 1)
}

fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// A simulator with `ORGS` orgs of one admin each, reauth's config for it, and the orgs
/// imported.
async fn setup(db: &TestDb) -> (sfsim::Sim, Config) {
    let mut sc = sfsim::Config::default_dataset().with_redirect_uri(CALLBACK);
    sc.orgs.clear();
    sc.settings.auto_approve = true;
    sc.settings.login_rate_per_hour = u32::MAX;
    for o in 0..ORGS {
        let users = vec![sfsim::UserConfig::new(&format!("u@o{o}.example"), true)];
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
    for o in 0..ORGS {
        csv.push_str(&format!("{},Org {o},admin@o{o}.example\n", org_id(o)));
    }
    reauth_tests::import_csv(&db.db, &csv).await;
    (sim, config)
}

/// One connection per org from a real code exchange.
async fn connect(db: &TestDb, sim: &sfsim::Sim, config: &Config) {
    let sf = domain::salesforce::SfClient::from_config(config)
        .unwrap()
        .unwrap();
    let sealer = domain::security::crypto::Sealer::from_config(&config.crypto).unwrap();
    let login =
        domain::types::LoginUrl::parse(sim.base_url(), &config.salesforce.extra_login_hosts)
            .unwrap();
    let http = reauth_tests::http_client();
    let base = sim.base_url().to_owned();
    let grants: Vec<_> = futures::stream::iter(0..ORGS)
        .map(|o| {
            let (sf, login, http, base) = (sf.clone(), login.clone(), http.clone(), base.clone());
            async move {
                let pkce = domain::salesforce::Pkce::generate();
                let mut url =
                    url::Url::parse(&format!("{base}/services/oauth2/authorize")).unwrap();
                url.query_pairs_mut()
                    .append_pair("response_type", "code")
                    .append_pair("client_id", "reauth-eca")
                    .append_pair("redirect_uri", CALLBACK)
                    .append_pair("scope", "api refresh_token")
                    .append_pair("code_challenge", &pkce.challenge)
                    .append_pair("login_hint", &format!("u@o{o}.example"));
                let r = http.get(url).send().await.unwrap();
                let loc = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
                let code = loc
                    .query_pairs()
                    .find(|(k, _)| k == "code")
                    .unwrap()
                    .1
                    .into_owned();
                let grant = sf
                    .exchange_code(&login, CALLBACK, &code, &pkce.verifier)
                    .await
                    .unwrap();
                (o, grant)
            }
        })
        .buffer_unordered(16)
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

/// How long (or how many requests) one side of a round runs.
#[derive(Clone, Copy)]
enum Until {
    Elapsed(Duration),
    Requests(u64),
}

/// Every latency of one side, and how long it took.
#[derive(Default)]
struct Side {
    latencies: Vec<Duration>,
    secs: f64,
}

impl Side {
    fn rps(&self) -> f64 {
        self.latencies.len() as f64 / self.secs
    }

    fn pct(&mut self, p: usize) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        self.latencies.sort_unstable();
        self.latencies[(self.latencies.len() * p / 100).min(self.latencies.len() - 1)]
    }
}

async fn load(
    client: &reqwest::Client,
    urls: Arc<Vec<String>>,
    key: Option<Arc<str>>,
    concurrency: usize,
    until: Until,
) -> Side {
    let sent = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let (client, urls, key, sent) = (client.clone(), urls.clone(), key.clone(), sent.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = w;
            loop {
                let more = match until {
                    Until::Elapsed(d) => start.elapsed() < d,
                    Until::Requests(n) => sent.fetch_add(1, Ordering::Relaxed) < n,
                };
                if !more {
                    return lat;
                }
                let t = Instant::now();
                let mut req = client.get(&urls[i % urls.len()]);
                if let Some(k) = &key {
                    req = req.bearer_auth(k);
                }
                let r = req.send().await.unwrap();
                assert!(r.status().is_success(), "{}", r.status());
                r.bytes().await.unwrap();
                lat.push(t.elapsed());
                i += concurrency;
            }
        }));
    }
    let mut side = Side::default();
    for t in tasks {
        side.latencies.extend(t.await.unwrap());
    }
    side.secs = start.elapsed().as_secs_f64();
    side
}

/// A bare axum handler building a JSON body of the token API's shape and size, at the token
/// API's path (so the client builds, sends and the router matches the same request line); the
/// answer is the base URL to append `/api/v1/orgs/{id}/access-token` to.
async fn bare_server() -> String {
    let bare = axum::Router::new().route(
        "/api/v1/orgs/{org}/access-token",
        axum::routing::get(|| async {
            axum::Json(serde_json::json!({
                "org_id": "00D000000000001EAA",
                "access_token": "00D000000000001!AQ0AQFakeAccessTokenOfTheSameLengthAsSfsims0123456789abcdef0123456789abcdef",
                "instance_url": "http://127.0.0.1:40000",
                "issued_at": "2026-11-24T00:00:00.000000Z",
                "app": "eca",
                "sf_user_id": "005000000000001AAA",
            }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, bare).await.unwrap() });
    base
}

fn print(label: &str, s: &mut Side) {
    println!(
        "  {label:<22} {:>8.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  ({} requests)",
        s.rps(),
        s.pct(50).as_secs_f64() * 1e3,
        s.pct(99).as_secs_f64() * 1e3,
        s.latencies.len()
    );
}

#[tokio::main]
async fn main() {
    reauth_tests::install_crypto();
    // As `reauth serve` logs (fmt at `info`), into a sink: spans are built and formatted as in
    // production, nothing is printed.
    let _already = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_writer(std::io::sink)
        // `reauth serve` colours its log only at a terminal (`log_colours`); a service's log goes
        // to a file or a pipe, so no ANSI codes are written here either.
        .with_ansi(false)
        .try_init();
    let secs: u64 = env("TOKEN_API_BENCH_SECS").unwrap_or(3);
    let rounds: usize = env("TOKEN_API_BENCH_ROUNDS").unwrap_or(3);
    let concurrency: usize = env("TOKEN_API_BENCH_CONCURRENCY").unwrap_or(64);
    let until = env("TOKEN_API_BENCH_REQUESTS")
        .map_or(Until::Elapsed(Duration::from_secs(secs)), Until::Requests);

    let db = TestDb::sqlite().await;
    let (sim, config) = setup(&db).await;
    connect(&db, &sim, &config).await;
    let app = TestApp::spawn(&db, config).await;
    let (key, _) =
        domain::security::api_keys::create(&db.db, "bench", &Actor::System, chrono::Utc::now())
            .await
            .unwrap();
    let key: Arc<str> = key.expose_secret().into();
    let urls = |base: &str| -> Arc<Vec<String>> {
        Arc::new(
            (0..ORGS)
                .map(|o| format!("{base}/api/v1/orgs/{}/access-token", org_id(o)))
                .collect(),
        )
    };
    let api_urls = urls(&app.base);
    // The same requests (path and `Authorization` header) go to the bare handler, which ignores
    // the key: the client's work is the same on both sides, only the server's differs.
    let bare_urls = urls(&bare_server().await);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    // Warm-up: fills the token cache (one exchange-free read per org) and the API-key cache, and
    // opens the client's connections to both servers.
    let warm = Until::Requests(2 * ORGS as u64);
    load(&client, api_urls.clone(), Some(key.clone()), 8, warm).await;
    load(&client, bare_urls.clone(), Some(key.clone()), 8, warm).await;
    let exchanges_before = sim.stats().refresh_ok;

    let (mut bare, mut api) = (Side::default(), Side::default());
    println!(
        "token API, cached tokens: {ORGS} orgs, {concurrency} concurrent callers, {rounds} rounds of {}, SQLite",
        match until {
            Until::Elapsed(d) => format!("{d:?} per side"),
            Until::Requests(n) => format!("{n} requests per side"),
        }
    );
    let side = std::env::var("TOKEN_API_BENCH_SIDE").unwrap_or_default();
    let (run_bare, run_api) = (side != "api", side != "bare");
    for round in 1..=rounds {
        let mut b = if run_bare {
            load(
                &client,
                bare_urls.clone(),
                Some(key.clone()),
                concurrency,
                until,
            )
            .await
        } else {
            Side::default()
        };
        let mut a = if run_api {
            load(
                &client,
                api_urls.clone(),
                Some(key.clone()),
                concurrency,
                until,
            )
            .await
        } else {
            Side::default()
        };
        println!(
            "  round {round}: bare {:>7.0} req/s, token API {:>7.0} req/s, ratio {:.2}; p99 {:.2} / {:.2} ms",
            b.rps(),
            a.rps(),
            a.rps() / b.rps(),
            b.pct(99).as_secs_f64() * 1e3,
            a.pct(99).as_secs_f64() * 1e3,
        );
        bare.latencies.append(&mut b.latencies);
        bare.secs += b.secs;
        api.latencies.append(&mut a.latencies);
        api.secs += a.secs;
    }
    println!("all rounds:");
    print("bare axum handler", &mut bare);
    print("GET access-token", &mut api);
    println!(
        "  ratio token API / bare handler: throughput {:.2}, p50 {:.2}, p99 {:.2}",
        api.rps() / bare.rps(),
        api.pct(50).as_secs_f64() / bare.pct(50).as_secs_f64(),
        api.pct(99).as_secs_f64() / bare.pct(99).as_secs_f64(),
    );
    println!(
        "  Salesforce exchanges during the measured rounds: {}",
        sim.stats().refresh_ok - exchanges_before
    );
    app.stop().await;
    sim.shutdown().await;
}
