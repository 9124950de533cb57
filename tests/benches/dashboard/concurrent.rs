//! Many staff users at once, each signed in with a session of their own, over a mix of pages,
//! against as many concurrent clients of `/healthz`.

use std::time::{Duration, Instant};

use domain::staff::Role;
use rand::Rng;
use reauth_tests::TestApp;

use super::seed::org_id;
use super::{PER_USER, WAVES, size};

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

pub(crate) async fn concurrent(app: &TestApp, orgs: usize, rng: &mut rand::rngs::StdRng) {
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
