//! Benchmark: refresh-token exchanges per second against sfsim (rotation on, latency off), and
//! the same HTTP client and concurrency against a trivial axum handler in the same run (the
//! baseline: what this machine's loopback HTTP costs). Prints figures; asserts nothing.
//!
//! `cargo bench -p sfsim --bench refresh`

#![expect(
    clippy::unwrap_used,
    reason = "test and benchmark code: a failed unwrap stops the run with its location"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::routing::post;
use sfsim::{Config, Sim};

const CONCURRENCY: usize = 64;
const RUN: Duration = Duration::from_secs(5);
const CALLBACK: &str = "http://127.0.0.1:9/cb";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .unwrap()
}

/// One grant per worker: a code exchange through the real endpoints.
async fn grant(c: &reqwest::Client, sim: &Sim, username: &str) -> String {
    let mut u = url::Url::parse(&format!("{}/services/oauth2/authorize", sim.base_url())).unwrap();
    u.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "reauth-eca")
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("scope", "api refresh_token")
        .append_pair(
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        )
        .append_pair("login_hint", username);
    let r = c.get(u).send().await.unwrap();
    let loc = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let code = loc
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let b: serde_json::Value = c
        .post(format!("{}/services/oauth2/token", sim.base_url()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", "reauth-eca"),
            ("client_secret", "reauth-eca-secret"),
            ("redirect_uri", CALLBACK),
            (
                "code_verifier",
                "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            ),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    b["refresh_token"].as_str().unwrap().to_owned()
}

struct Figures {
    ops: u64,
    secs: f64,
    p50: Duration,
    p99: Duration,
}

/// Runs `CONCURRENCY` loops of `op` for `RUN`, each loop carrying its own state.
async fn drive<S, F, Fut>(states: Vec<S>, op: F) -> Figures
where
    S: Send + 'static,
    F: Fn(S) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = S> + Send,
{
    let ops = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for s in states {
        let (ops, op) = (ops.clone(), op.clone());
        tasks.push(tokio::spawn(async move {
            let mut s = s;
            let mut lat = Vec::new();
            while start.elapsed() < RUN {
                let t = Instant::now();
                s = op(s).await;
                lat.push(t.elapsed());
                ops.fetch_add(1, Ordering::Relaxed);
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
    Figures {
        ops: ops.load(Ordering::Relaxed),
        secs,
        p50: all[all.len() / 2],
        p99: all[all.len() * 99 / 100],
    }
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // One user per worker: Salesforce keeps five approvals per user per app.
    let users: Vec<String> = (0..CONCURRENCY)
        .map(|i| format!("user{i}@bench.example"))
        .collect();
    let mut cfg = Config::default_dataset()
        .with_redirect_uri(CALLBACK)
        .with_org(
            "00D000000000009",
            "Bench",
            "production",
            users
                .iter()
                .map(|u| sfsim::UserConfig::new(u, true))
                .collect(),
        );
    cfg.settings.auto_approve = true;
    // Throughput, not Salesforce's per-user login limit, is what is measured here.
    cfg.settings.login_rate_per_hour = u32::MAX;
    let sim = Sim::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let c = client();
    let token_url = format!("{}/services/oauth2/token", sim.base_url());
    let mut states = Vec::new();
    for u in &users {
        states.push((c.clone(), token_url.clone(), grant(&c, &sim, u).await));
    }

    // Baseline first, then sfsim, in the same process and run.
    let base = bench_baseline(&c).await;
    let sim_figs = drive(
        states,
        |(c, url, rt): (reqwest::Client, String, String)| async move {
            let b: serde_json::Value = c
                .post(&url)
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", rt.as_str()),
                    ("client_id", "reauth-eca"),
                    ("client_secret", "reauth-eca-secret"),
                ])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let next = b["refresh_token"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| panic!("refresh refused: {b}"));
            (c, url, next)
        },
    )
    .await;
    let stats = sim.stats();
    let rate = |f: &Figures| f.ops as f64 / f.secs;
    println!(
        "concurrency {CONCURRENCY}, {}s per run, release build, one process (client and servers share the 2 cores)",
        RUN.as_secs()
    );
    println!(
        "baseline (trivial axum handler): {:>8.0} req/s  p50 {:?}  p99 {:?}",
        rate(&base),
        base.p50,
        base.p99
    );
    println!(
        "sfsim refresh (rotation on):     {:>8.0} req/s  p50 {:?}  p99 {:?}",
        rate(&sim_figs),
        sim_figs.p50,
        sim_figs.p99
    );
    println!(
        "ratio sfsim / baseline: {:.2}",
        rate(&sim_figs) / rate(&base)
    );
    println!(
        "sfsim stats: refresh_ok {} reuse_detected {} concurrent_rejected {} rejected {:?}",
        stats.refresh_ok, stats.reuse_detected, stats.concurrent_rejected, stats.refresh_rejected
    );
    sim.shutdown().await;
}

async fn bench_baseline(c: &reqwest::Client) -> Figures {
    let app = axum::Router::new().route(
        "/services/oauth2/token",
        post(|| async {
            axum::Json(
                serde_json::json!({ "access_token": "00D000000000001!AQ", "token_type": "Bearer" }),
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/services/oauth2/token",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let states: Vec<_> = (0..CONCURRENCY).map(|_| (c.clone(), url.clone())).collect();
    drive(states, |(c, url): (reqwest::Client, String)| async move {
        c.post(&url)
            .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        (c, url)
    })
    .await
}
