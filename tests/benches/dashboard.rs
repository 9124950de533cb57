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

use chrono::Utc;
use domain::entity::{connection, contact, org, wave};
use domain::events::{Actor, NewEvent};
use domain::registry::state::OrgState;
use domain::staff::Role;
use rand::{Rng, SeedableRng};
use reauth_tests::{TestApp, TestDb};
use sea_orm::{ActiveValue::NotSet, EntityTrait, Set, TransactionTrait};

const WAVES: usize = 10;
const REQUESTS: usize = 200;
const WARMUP: usize = 20;
/// Requests each concurrent user makes (after one warm-up round of the mix).
const PER_USER: usize = 50;

fn size(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A state drawn from a mid-rollout mix.
fn state(r: f64) -> OrgState {
    match r {
        r if r < 0.40 => OrgState::Pending,
        r if r < 0.55 => OrgState::Notified,
        r if r < 0.65 => OrgState::Opened,
        r if r < 0.70 => OrgState::Consented,
        r if r < 0.90 => OrgState::Verified,
        r if r < 0.95 => OrgState::LegacyRetired,
        r if r < 0.97 => OrgState::NeedsAttention,
        r if r < 0.98 => OrgState::NeedsReauth,
        _ => OrgState::Exempt,
    }
}

fn org_id(i: usize) -> String {
    domain::types::OrgId::parse(&format!("00D{:012}", i + 1))
        .unwrap()
        .as_str()
        .to_owned()
}

async fn seed(db: &TestDb, orgs: usize, events: usize) -> Duration {
    let t = Instant::now();
    let now = Utc::now();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for w in 0..WAVES {
        wave::Entity::insert(wave::ActiveModel {
            id: NotSet,
            name: Set(format!("w{w}")),
            starts_at: Set(Some(now - chrono::Duration::days(40))),
            deadline: Set(Some(now + chrono::Duration::days(w as i64 * 7 - 10))),
            steps: Set(domain::registry::DEFAULT_STEPS.into()),
            paused: Set(false),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec(&db.db)
        .await
        .unwrap();
    }
    let txn = db.db.begin().await.unwrap();
    let mut batch = Vec::new();
    let mut contacts = Vec::new();
    let mut conns = Vec::new();
    for i in 0..orgs {
        let st = state(rng.gen_range(0.0..1.0));
        let id = domain::types::OrgId::parse(&org_id(i)).unwrap();
        let done = st.completes_rollout() || st == OrgState::NeedsReauth;
        let when = now - chrono::Duration::minutes(rng.gen_range(0..40 * 24 * 60));
        batch.push(org::ActiveModel {
            id: Set(id.clone()),
            name: Set(format!("Customer {i:06}")),
            name_lower: Set(format!("customer {i:06}")),
            environment: Set(if i % 5 == 0 {
                domain::types::Environment::Sandbox
            } else {
                domain::types::Environment::Production
            }),
            login_url: Set(None),
            wave_id: Set(Some((i % WAVES) as i64 + 1)),
            state: Set(st),
            state_changed_at: Set(when),
            resume_state: Set((st == OrgState::NeedsAttention).then_some(OrgState::Opened)),
            attention_reason: Set(None),
            attention_owner: Set(None),
            csm_email: Set(Some(format!("csm{}@partner.example", i % 20))),
            notices_paused: Set(false),
            campaign_round: Set(0),
            completed_at: Set(done.then_some(when)),
            created_at: Set(now - chrono::Duration::days(41)),
            updated_at: Set(when),
            preflight: Set(None),
            preflight_at: Set(None),
        });
        contacts.push(contact::ActiveModel {
            id: NotSet,
            org_id: Set(id.clone()),
            role: Set("primary".into()),
            email: Set(format!("admin{i}@customer{i}.example")),
            name: Set(None),
            timezone: Set(None),
            bounce_status: Set("ok".into()),
            bounced_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        });
        if matches!(st, OrgState::Verified | OrgState::LegacyRetired) {
            let last = now - chrono::Duration::minutes(rng.gen_range(0..25 * 24 * 60));
            conns.push(connection::ActiveModel {
                id: NotSet,
                org_id: Set(id.clone()),
                app: Set(connection::ConnectionApp::Eca),
                status: Set(connection::ConnectionStatus::Active),
                refresh_token_ct: Set(Some(vec![0; 60])),
                access_token_ct: Set(Some(vec![0; 60])),
                key_id: Set(Some("k1".into())),
                instance_url: Set("https://example.my.salesforce.com".into()),
                id_url: Set(format!(
                    "https://login.salesforce.com/id/{id}/005000000000001"
                )),
                sf_user_id: Set("005000000000001".into()),
                sf_username: Set(Some(format!("admin@customer{i}.example"))),
                scopes: Set("api refresh_token".into()),
                issued_at: Set(last),
                access_token_at: Set(Some(last)),
                last_exchange_at: Set(last),
                next_heartbeat_at: Set(Some(last + chrono::Duration::days(25))),
                heartbeat_interval_secs: Set(None),
                version: Set(0),
                lease_owner: Set(None),
                lease_expires_at: Set(None),
                refresh_started_at: Set(None),
                last_error_class: Set(None),
                last_error: Set(None),
                last_error_at: Set(None),
                replaces_id: Set(None),
                created_at: Set(last),
                updated_at: Set(last),
                pending_refresh_token_ct: Set(None),
                pending_key_id: Set(None),
                pending_at: Set(None),
                anomaly: Set(None),
                verify_attempts: Set(0),
                next_verify_at: Set(None),
                verified_at: Set(Some(last)),
                revoke_attempts: Set(0),
                next_revoke_at: Set(None),
                rests_as: Set(None),
            });
        }
        if batch.len() == 500 {
            org::Entity::insert_many(std::mem::take(&mut batch))
                .exec_without_returning(&txn)
                .await
                .unwrap();
            contact::Entity::insert_many(std::mem::take(&mut contacts))
                .exec_without_returning(&txn)
                .await
                .unwrap();
            // Connections after their orgs (foreign key).
            if !conns.is_empty() {
                connection::Entity::insert_many(std::mem::take(&mut conns))
                    .exec_without_returning(&txn)
                    .await
                    .unwrap();
            }
        }
    }
    if !batch.is_empty() {
        org::Entity::insert_many(batch)
            .exec_without_returning(&txn)
            .await
            .unwrap();
        contact::Entity::insert_many(contacts)
            .exec_without_returning(&txn)
            .await
            .unwrap();
    }
    if !conns.is_empty() {
        connection::Entity::insert_many(conns)
            .exec_without_returning(&txn)
            .await
            .unwrap();
    }
    txn.commit().await.unwrap();
    let kinds = [
        "org.state_changed",
        "notice.sent",
        "link.opened",
        "vault.refreshed",
        "link.created",
    ];
    let mut left = events;
    while left > 0 {
        let n = left.min(50_000);
        let chunk: Vec<NewEvent> = (0..n)
            .map(|_| {
                let o = rng.gen_range(0..orgs);
                NewEvent {
                    at: now - chrono::Duration::seconds(rng.gen_range(0..40 * 86_400)),
                    actor: Actor::System,
                    org_id: Some(domain::types::OrgId::parse(&org_id(o)).unwrap()),
                    kind: kinds[rng.gen_range(0..kinds.len())].into(),
                    details: serde_json::json!({ "n": o }),
                }
            })
            .collect();
        let txn = db.db.begin().await.unwrap();
        domain::events::record_many(&txn, chunk).await.unwrap();
        txn.commit().await.unwrap();
        left -= n;
    }
    // Planner statistics and (PostgreSQL) the visibility map, as autovacuum keeps them in a
    // running database; without the map PostgreSQL's index-only scans visit every heap page.
    {
        use sea_orm::ConnectionTrait;
        let sql = match db.backend {
            reauth_tests::Backend::Postgres => "VACUUM ANALYZE",
            reauth_tests::Backend::Sqlite => "ANALYZE",
        };
        db.db.execute_unprepared(sql).await.unwrap();
    }
    t.elapsed()
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

/// The mixed pages one concurrent user cycles through, tagged with the page kind.
fn mix(base: &str, orgs: usize, rng: &mut rand::rngs::StdRng) -> Vec<(&'static str, String)> {
    let mut urls = Vec::new();
    for _ in 0..10 {
        urls.push(("overview", format!("{base}/")));
        urls.push((
            "filtered list",
            format!(
                "{base}/orgs?state=pending&wave=w{}",
                rng.gen_range(0..WAVES)
            ),
        ));
        urls.push((
            "search",
            format!("{base}/orgs?q=customer+{:06}", rng.gen_range(0..orgs)),
        ));
        urls.push((
            "org page",
            format!("{base}/orgs/{}", org_id(rng.gen_range(0..orgs))),
        ));
        urls.push(("events", format!("{base}/events")));
    }
    urls
}

/// Runs `users` clients at once, each over its own list; returns each request's kind and time,
/// and the wall time of the whole run.
async fn swarm(
    clients: Vec<(reqwest::Client, Vec<(&'static str, String)>)>,
) -> (Vec<(&'static str, Duration)>, Duration) {
    let t = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|(client, urls)| {
            tokio::spawn(async move {
                let mut times = Vec::with_capacity(urls.len());
                for (kind, u) in urls {
                    let t = Instant::now();
                    let r = client.get(&u).send().await.unwrap();
                    assert_eq!(r.status(), 200, "{u}");
                    r.bytes().await.unwrap();
                    times.push((kind, t.elapsed()));
                }
                times
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    (all, t.elapsed())
}

fn percentile(times: &mut [Duration], q: f64) -> Duration {
    times.sort();
    times[((times.len() as f64 * q) as usize).min(times.len() - 1)]
}

async fn concurrent(app: &TestApp, orgs: usize, rng: &mut rand::rngs::StdRng) {
    let users = size("REAUTH_BENCH_USERS", 20);
    let mut staff = Vec::with_capacity(users);
    for u in 0..users {
        // Each user from an address of their own (behind the trusted proxy the bench's config
        // names), as twenty people are: sign-in attempts are limited per address.
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            http::HeaderValue::from_str(&format!("10.0.{}.{}", u / 250, u % 250 + 1)).unwrap(),
        );
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(headers)
            .build()
            .unwrap();
        let email = format!("concurrent{u}@partner.example");
        staff
            .push(reauth_tests::staff::first_sign_in_with(app, &email, Role::Viewer, client).await);
    }
    let base = app.base.clone();
    // Baseline: the same number of clients and requests, all on /healthz.
    let healthz: Vec<_> = (0..users)
        .map(|_| {
            let urls = vec![("healthz", format!("{base}/healthz")); PER_USER];
            (reqwest::Client::new(), urls)
        })
        .collect();
    swarm(healthz.clone()).await; // warm-up
    let (base_times, base_wall) = swarm(healthz).await;
    let mut base_times: Vec<Duration> = base_times.into_iter().map(|(_, d)| d).collect();
    let plans: Vec<_> = staff
        .iter()
        .map(|s| {
            let mut urls = mix(&base, orgs, rng);
            urls.truncate(PER_USER);
            (s.client.clone(), urls)
        })
        .collect();
    swarm(
        plans
            .iter()
            .map(|(c, u)| (c.clone(), u[..5].to_vec()))
            .collect(),
    )
    .await; // warm-up
    let (times, wall) = swarm(plans).await;
    let n = times.len();
    let base_rate = base_times.len() as f64 / base_wall.as_secs_f64();
    let rate = n as f64 / wall.as_secs_f64();
    println!(
        "\n{users} concurrent staff users, {PER_USER} requests each ({n} in all), mixed pages:"
    );
    println!(
        "{:<42} {:>9} {:>9} {:>12}",
        "page", "p50 ms", "p95 ms", "requests/s"
    );
    let b95 = percentile(&mut base_times, 0.95);
    println!(
        "{:<42} {:>9.2} {:>9.2} {:>12.0}",
        "baseline GET /healthz (same concurrency)",
        percentile(&mut base_times, 0.50).as_secs_f64() * 1e3,
        b95.as_secs_f64() * 1e3,
        base_rate
    );
    for kind in ["overview", "filtered list", "search", "org page", "events"] {
        let mut t: Vec<Duration> = times
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, d)| *d)
            .collect();
        println!(
            "{kind:<42} {:>9.2} {:>9.2}",
            percentile(&mut t, 0.50).as_secs_f64() * 1e3,
            percentile(&mut t, 0.95).as_secs_f64() * 1e3
        );
    }
    let mut all: Vec<Duration> = times.iter().map(|(_, d)| *d).collect();
    println!(
        "{:<42} {:>9.2} {:>9.2} {:>12.0}   throughput {:.3}x the baseline's",
        "all pages",
        percentile(&mut all, 0.50).as_secs_f64() * 1e3,
        percentile(&mut all, 0.95).as_secs_f64() * 1e3,
        rate,
        rate / base_rate
    );
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
