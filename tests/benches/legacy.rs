//! Benchmarks of the legacy cut-over:
//!
//! 1. Importing 100,000 legacy tokens (`reauth legacy import`: parse, check against the registry,
//!    seal, insert held, one event per org) into SQLite and PostgreSQL, against the org import of
//!    the same 100,000 orgs measured in the same run (the baseline: the import every partner has
//!    already run).
//! 2. Retiring 10,000 orgs against sfsim with 50 ms latency: the revocation pass against the ideal
//!    `orgs × latency ÷ concurrency`.
//!
//! `REAUTH_TEST_POSTGRES_URL=… cargo bench -p reauth-tests --bench legacy`. Prints figures;
//! asserts only that the work was done. `LEGACY_BENCH_TOKENS` and `LEGACY_BENCH_RETIRE` change
//! the sizes.

// Benchmark code: a failed unwrap aborts the run with its location, which is what we want.
#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::config::Config;
use domain::events::Actor;
use domain::legacy::import::{self, Format, Options};
use reauth_tests::TestDb;
use sea_orm::ConnectionTrait;

fn org_id(i: usize) -> String {
    format!("00D{:012}", i + 1)
}

fn size(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn vault(db: &TestDb, config: Config) -> domain::vault::Vault {
    domain::vault::Vault::from_config(
        db.db.clone(),
        Arc::new(config),
        domain::time::Clock::system(),
        "bench",
    )
    .unwrap()
    .unwrap()
}

async fn import_bench(db: TestDb, label: &str, n: usize) {
    let mut orgs = String::from("org_id,name,admin_email\n");
    for i in 0..n {
        let _ = writeln!(orgs, "{},Customer {i},admin@c{i}.example", org_id(i));
    }
    let t = Instant::now();
    reauth_tests::import_csv(&db.db, &orgs).await;
    let org_secs = t.elapsed().as_secs_f64();

    let mut config = Config::default();
    config.salesforce.client_id = Some("reauth-eca".into());
    config.salesforce.login_url = "https://login.salesforce.com".into();
    config.crypto.keys = vec![domain::security::crypto::Sealer::generate_key("k1")];
    let v = vault(&db, config);
    let mut tokens = String::from("org_id,refresh_token,instance_url,sf_user_id,scopes\n");
    for i in 0..n {
        let _ = writeln!(
            tokens,
            "{},5Aep861{i:020}xYz.{i:08},https://c{i}.my.salesforce.com,005{:012},api refresh_token",
            org_id(i),
            i + 1
        );
    }
    let t = Instant::now();
    let parsed = import::parse(tokens.as_bytes(), Format::Csv, "bench.csv", &[]);
    assert!(parsed.errors.is_empty());
    let t_parse = t.elapsed().as_secs_f64();
    let report = import::import(
        &v,
        "bench.csv",
        parsed,
        Options::default(),
        &Actor::System,
        &(),
    )
    .await
    .unwrap()
    .unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(report.imported, n);
    println!(
        "legacy import ({label}): {n} tokens in {secs:.2} s ({:.0} rows/s; parse {t_parse:.2} s) | baseline org import {org_secs:.2} s ({:.0} rows/s) | ratio {:.2}",
        n as f64 / secs,
        n as f64 / org_secs,
        secs / org_secs
    );
}

async fn retire_bench(db: TestDb, label: &str, n: usize) {
    let latency = Duration::from_millis(50);
    let concurrency = 64;
    let mut sc = sfsim::Config::default_dataset().with_redirect_uri(reauth_tests::seed::CALLBACK);
    sc.orgs.clear();
    sc.settings.auto_approve = true;
    sc.settings.login_rate_per_hour = u32::MAX;
    for i in 0..n {
        sc = sc.with_org(
            &org_id(i),
            &format!("Customer {i}"),
            "production",
            vec![sfsim::UserConfig::new(&format!("admin@c{i}.example"), true)],
        );
    }
    let sim = sfsim::Sim::start(sc, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut orgs = String::from("org_id,name,admin_email\n");
    let mut tokens = String::from("org_id,refresh_token,instance_url,sf_user_id\n");
    for i in 0..n {
        let _ = writeln!(orgs, "{},Customer {i},admin@c{i}.example", org_id(i));
        let g = sim
            .mint_grant(
                "reauth-legacy",
                &format!("admin@c{i}.example"),
                &["api", "refresh_token"],
            )
            .unwrap();
        let user = g.id.rsplit('/').next().unwrap().to_owned();
        let _ = writeln!(
            tokens,
            "{},{},{},{user}",
            org_id(i),
            g.refresh_token.unwrap(),
            g.instance_url
        );
    }
    reauth_tests::import_csv(&db.db, &orgs).await;
    let mut config = Config::default();
    config.salesforce.client_id = Some("reauth-eca".into());
    config.salesforce.client_secret = Some("reauth-eca-secret".to_owned().into());
    config.salesforce.login_url = sim.base_url().to_owned();
    config.salesforce.extra_login_hosts = vec![sim.host_port().to_owned()];
    config.salesforce.http_timeout = Duration::from_secs(30);
    config.legacy.client_id = Some("reauth-legacy".into());
    config.legacy.client_secret = Some("reauth-legacy-secret".to_owned().into());
    config.legacy.retire_after = Duration::from_secs(1);
    config.heartbeat.concurrency = concurrency;
    config.crypto.keys = vec![domain::security::crypto::Sealer::generate_key("k1")];
    let v = vault(&db, config.clone());
    let parsed = import::parse(
        tokens.as_bytes(),
        Format::Csv,
        "bench.csv",
        &config.salesforce.extra_login_hosts,
    );
    import::import(
        &v,
        "bench.csv",
        parsed,
        Options::default(),
        &Actor::System,
        &(),
    )
    .await
    .unwrap()
    .unwrap();
    // Activated, with a verified External Client App connection that refreshed since (seeded
    // directly: the consents themselves are not what is measured).
    db.db
        .execute_unprepared("UPDATE connections SET status = 'active'")
        .await
        .unwrap();
    let ids = reauth_tests::seed::connect_all(&db.db, &sim, &config, n).await;
    assert_eq!(ids.len(), n);
    let past = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let sql = match db.db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => {
            format!("UPDATE connections SET verified_at = TIMESTAMPTZ '{past}' WHERE app = 'eca'")
        }
        _ => format!("UPDATE connections SET verified_at = '{past}' WHERE app = 'eca'"),
    };
    db.db.execute_unprepared(&sql).await.unwrap();

    let t = Instant::now();
    let started = domain::legacy::retire::start_due(&v, &Actor::System)
        .await
        .unwrap();
    let start_secs = t.elapsed().as_secs_f64();
    assert_eq!(started, n);
    tokio::time::sleep(v.invalidation_horizon()).await;
    sim.set_faults(sfsim::Faults {
        latency: Some(latency),
        ..Default::default()
    });
    let t = Instant::now();
    let (revoked, failed) = domain::legacy::retire::revoke_due(&v, &Actor::System)
        .await
        .unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(revoked, n, "every due revocation made in the measured pass");
    let ideal = n as f64 * latency.as_secs_f64() / concurrency as f64;
    println!(
        "legacy retirement ({label}): {n} orgs; out of service + invalidated in {start_secs:.2} s; revocations {secs:.2} s against sfsim at {latency:?} latency, concurrency {concurrency}: ideal {ideal:.2} s, ratio {:.2} ({revoked} revoked, {failed} failed; sfsim revocations {})",
        secs / ideal,
        sim.stats().revocations
    );
    sim.shutdown().await;
}

#[tokio::main]
async fn main() {
    reauth_tests::install_crypto();
    let n = size("LEGACY_BENCH_TOKENS", 100_000);
    import_bench(TestDb::sqlite().await, "SQLite", n).await;
    if let Some(pg) = TestDb::postgres().await {
        import_bench(pg, "PostgreSQL", n).await;
    }
    let r = size("LEGACY_BENCH_RETIRE", 10_000);
    retire_bench(TestDb::sqlite().await, "SQLite", r).await;
    if let Some(pg) = TestDb::postgres().await {
        retire_bench(pg, "PostgreSQL", r).await;
    }
}
