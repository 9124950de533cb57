//! Vault integrity: every path that could throw away a token Salesforce rotated, each driven
//! against sfsim (through a proxy that can change the shape of Salesforce's answers where a test
//! needs that) and checked where it matters — at sfsim: no reuse, exactly the grants expected.

use std::sync::Arc;
use std::time::Duration;

use domain::config::Config;
use domain::entity::connection::ConnectionStatus;
use domain::events::Actor;
use domain::vault::{Trigger, Vault, VaultOptions};
use reauth_tests::tamper::{Tamper, TamperProxy};
use reauth_tests::{TestApp, TestDb, both_backends, seed};
use sea_orm::{ConnectionTrait, EntityTrait, TransactionTrait};
use secrecy::ExposeSecret;
use serde_json::Value;
use sfsim::{Sim, UserConfig};

use crate::reconsent_flow::{World, authorize_as, callback, connections, new_link, start};

const ACME: &str = "00D4c0000008cs2EAA";
const ORGS: &str = "org_id,name,environment,admin_email\n\
00D4c0000008cs2,Acme Corp,production,admin@acme.com\n";

/// Acme at reauth and at sfsim, with reauth talking to Salesforce through a tamper proxy.
async fn proxied_world(
    db: TestDb,
    sim_tweak: impl FnOnce(&mut sfsim::Config),
    cfg_tweak: impl FnOnce(&mut Config),
) -> (World, TamperProxy) {
    reauth_tests::import_csv(&db.db, ORGS).await;
    let mut sc = sfsim::Config::default_dataset();
    sc.orgs.clear();
    sc.settings.auto_approve = true;
    let mut sc = sc.with_org(
        "00D4c0000008cs2",
        "Acme Corp",
        "production",
        vec![UserConfig::new("admin@acme.com", true)],
    );
    sim_tweak(&mut sc);
    let sim = Sim::start(sc, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let proxy = TamperProxy::start(sim.base_url(), "reauth-eca-secret").await;
    let mut config = Config::default();
    config.salesforce.client_id = Some("reauth-eca".into());
    config.salesforce.client_secret = Some("reauth-eca-secret".to_owned().into());
    config.salesforce.login_url = proxy.base_url().to_owned();
    config.salesforce.extra_login_hosts = vec![proxy.host_port()];
    config.crypto.keys = vec![domain::security::crypto::Sealer::generate_key("k1")];
    cfg_tweak(&mut config);
    let app = TestApp::spawn(&db, config).await;
    sim.add_redirect_uri(&format!("{}/oauth/callback", app.base));
    (World { db, app, sim }, proxy)
}

/// Acme consents through the real pages; returns an API key.
async fn consent(w: &World) -> String {
    let secret = new_link(w, ACME).await;
    let auth = start(w, &secret).await;
    let cb = authorize_as(auth, "admin@acme.com").await;
    assert_eq!(callback(w, &cb).await.0, 200);
    let (key, _) = domain::security::api_keys::create(
        &w.db.db,
        "billing-service",
        &Actor::Cli("t".into()),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    key.expose_secret().to_owned()
}

async fn force(w: &World, key: &str) -> (u16, Value) {
    let r = w
        .app
        .client
        .post(format!(
            "{}/api/v1/orgs/{ACME}/access-token/refresh",
            w.app.base
        ))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn advance(w: &World, d: Duration) {
    w.app.state.clock.advance(d);
    w.sim.advance_clock(d);
}

async fn alerts_of(w: &World, kind: &str) -> usize {
    domain::entity::alert::Entity::find()
        .all(&w.db.db)
        .await
        .unwrap()
        .iter()
        .filter(|a| a.kind == kind)
        .count()
}

/// Defect 1: an answer that carries a rotated refresh token is stored whatever else about it
/// looks wrong; the old token is never presented again.
async fn rotated_tokens_survive_answers_that_look_wrong(db: TestDb) {
    let (w, proxy) = proxied_world(db, |_| {}, |_| {}).await;
    let key = consent(&w).await;
    for tamper in [
        Tamper::UnknownInstanceHost,
        Tamper::BadSignature,
        Tamper::BadIssuedAt,
        Tamper::NoAccessToken,
    ] {
        advance(&w, Duration::from_secs(11));
        proxy.set(tamper);
        let (s, b) = force(&w, &key).await;
        proxy.set(Tamper::None);
        if tamper == Tamper::NoAccessToken {
            assert_eq!(s, 503, "{tamper:?}: no access token to serve: {b}");
        } else {
            assert_eq!(s, 200, "{tamper:?}: the new access token is served: {b}");
            assert!(
                b["instance_url"]
                    .as_str()
                    .unwrap()
                    .starts_with("http://127.0.0.1"),
                "{tamper:?}: an unrecognised instance URL is never handed out: {b}"
            );
        }
        let c = connections(&w).await.remove(0);
        assert_eq!(c.status, ConnectionStatus::Active, "{tamper:?}");
        assert!(c.anomaly.is_some(), "{tamper:?}: the anomaly is recorded");
        // The stored token is the one Salesforce rotated to: the next clean refresh works and
        // nothing was ever presented twice.
        advance(&w, Duration::from_secs(11));
        let (s, b) = force(&w, &key).await;
        assert_eq!(s, 200, "{tamper:?}: {b}");
        assert!(connections(&w).await[0].anomaly.is_none(), "cleared");
        let st = w.sim.stats();
        assert_eq!(
            (st.reuse_detected, st.grants_revoked_for_reuse),
            (0, 0),
            "{tamper:?}"
        );
    }
    assert!(alerts_of(&w, "vault.answer_anomaly").await >= 4);
    w.app.stop().await;
}

both_backends!(
    a_rotated_token_is_kept_when_the_answer_looks_wrong,
    rotated_tokens_survive_answers_that_look_wrong
);

/// An answer naming another org: the token is kept sealed but nothing is served.
async fn answers_for_another_org_quarantine_the_connection(db: TestDb) {
    let (w, proxy) = proxied_world(db, |_| {}, |_| {}).await;
    let key = consent(&w).await;
    advance(&w, Duration::from_secs(11));
    proxy.set(Tamper::OtherOrgId);
    let (s, b) = force(&w, &key).await;
    proxy.set(Tamper::None);
    assert_eq!(
        (s, b["error"].as_str()),
        (409, Some("connection_held")),
        "{b}"
    );
    let c = connections(&w).await.remove(0);
    assert_eq!(c.status, ConnectionStatus::Quarantined);
    assert_eq!(alerts_of(&w, "vault.identity_mismatch").await, 1);
    // Still nothing served, and nothing refreshed behind a person's back.
    advance(&w, Duration::from_secs(11));
    assert_eq!(force(&w, &key).await.0, 409);
    assert_eq!(w.sim.stats().refresh_ok, 1);
    w.app.stop().await;
}

both_backends!(
    a_refresh_answer_for_another_org_is_kept_but_never_served,
    answers_for_another_org_quarantine_the_connection
);

/// Vaults standing in for separate processes (own owner, own cache and locks) over one database.
fn vaults(w: &World, n: usize, opts: VaultOptions) -> Vec<Vault> {
    let state = &w.app.state;
    (0..n)
        .map(|i| {
            Vault::with_options(
                w.db.db.clone(),
                state.vault.as_ref().unwrap().sf().clone(),
                state.sealer.clone().unwrap(),
                state.config.clone(),
                state.clock.clone(),
                &format!("worker-{i}"),
                opts,
            )
        })
        .collect()
}

/// A world of `n` connected customers (no tamper proxy): sfsim, reauth, seeded connections.
async fn many(db: TestDb, n: usize, tweak: impl FnOnce(&mut Config)) -> (World, Vec<i64>) {
    let sim = Sim::start(seed::sim_config(n), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    seed::import_orgs(&db.db, n).await;
    let mut config = seed::vault_config(&sim, &db.url);
    tweak(&mut config);
    let ids = seed::connect_all(&db.db, &sim, &config, n).await;
    let app = TestApp::spawn(&db, config).await;
    (World { db, app, sim }, ids)
}

/// Defect 7: overlapping sweeps (four workers over the same due page) exchange each connection
/// exactly once.
async fn four_sweeps_exchange_each_due_connection_once(db: TestDb) {
    let (w, ids) = many(db, 1000, |c| c.heartbeat.concurrency = 32).await;
    w.db.db
        .execute_unprepared("UPDATE connections SET next_heartbeat_at = created_at")
        .await
        .unwrap();
    let vs = vaults(&w, 4, VaultOptions::default());
    let sweeps = vs
        .iter()
        .map(|v| domain::vault::heartbeat::sweep(v, 10_000));
    let reports = futures::future::join_all(sweeps).await;
    let refreshed: usize = reports.iter().map(|r| r.as_ref().unwrap().refreshed).sum();
    let st = w.sim.stats();
    assert_eq!(
        st.refresh_ok,
        ids.len() as u64,
        "exactly one exchange per connection: {reports:?}"
    );
    assert_eq!(refreshed, ids.len());
    assert_eq!((st.reuse_detected, st.concurrent_rejected), (0, 0));
    w.app.stop().await;
}

both_backends!(
    four_workers_sweeping_a_thousand_due_connections_exchange_each_once,
    four_sweeps_exchange_each_due_connection_once
);

/// Defect 2: `keys rotate` running in a loop while eight workers heartbeat two hundred
/// connections loses nothing: no reuse at sfsim, every connection alive.
async fn key_rotation_never_races_a_refresh(db: TestDb) {
    let k1 = domain::security::crypto::Sealer::generate_key("k1");
    let k2 = domain::security::crypto::Sealer::generate_key("k2");
    let keys = vec![k1.clone(), k2.clone()];
    let (w, ids) = many(db, 200, |c| {
        c.crypto.keys = keys.clone();
        c.heartbeat.concurrency = 16;
        c.heartbeat.per_instance = 16;
    })
    .await;
    w.sim.set_faults(sfsim::Faults {
        latency: Some(Duration::from_millis(20)),
        jitter: Some(Duration::from_millis(40)),
        ..Default::default()
    });
    // Rotation alternates the newest key, so every pass finds rows to re-seal (the vaults keep
    // sealing under k2).
    let to_k1 = domain::security::crypto::Sealer::from_config(&domain::config::CryptoConfig {
        keys: vec![k2.clone(), k1.clone()],
        key_file: None,
        ..Default::default()
    })
    .unwrap();
    let to_k2 = domain::security::crypto::Sealer::from_config(&domain::config::CryptoConfig {
        keys: vec![k1, k2],
        key_file: None,
        ..Default::default()
    })
    .unwrap();
    let vs = vaults(&w, 8, VaultOptions::default());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let rotations = {
        let (db, stop) = (w.db.db.clone(), stop.clone());
        tokio::spawn(async move {
            let mut total = domain::security::keys::RotationReport::default();
            let mut runs = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let s = if runs.is_multiple_of(2) {
                    &to_k1
                } else {
                    &to_k2
                };
                let r = domain::security::keys::rotate(&db, s).await.unwrap();
                total.connections += r.connections;
                total.raced += r.raced;
                total.left_leased += r.left_leased;
                runs += 1;
            }
            (runs, total)
        })
    };
    const ROUNDS: u64 = 3;
    for _ in 0..ROUNDS {
        w.db.db
            .execute_unprepared("UPDATE connections SET next_heartbeat_at = created_at")
            .await
            .unwrap();
        let sweeps = vs
            .iter()
            .map(|v| domain::vault::heartbeat::sweep(v, 10_000));
        for r in futures::future::join_all(sweeps).await {
            assert_eq!(r.unwrap().errors, 0);
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (runs, total) = rotations.await.unwrap();
    let st = w.sim.stats();
    // Rotation and refreshes really overlapped: rows were re-sealed between refreshes, and some
    // were found under a lease or changed under rotation's feet.
    assert!(
        runs >= 1 && total.connections > 0 && total.raced + total.left_leased > 0,
        "{runs} {total:?}"
    );
    assert_eq!(
        st.refresh_ok,
        ROUNDS * ids.len() as u64,
        "each round refreshed each connection exactly once: {st:?}"
    );
    assert_eq!(
        (st.reuse_detected, st.grants_revoked_for_reuse),
        (0, 0),
        "{st:?}"
    );
    assert_eq!(
        alerts_of(&w, "vault.lease_lost").await,
        0,
        "rotation never took a row from under a lease holder"
    );
    let conns = connections(&w).await;
    assert!(
        conns.iter().all(|c| c.status == ConnectionStatus::Active),
        "{:?}",
        conns.iter().find(|c| c.status != ConnectionStatus::Active)
    );
    // Every stored token is alive at Salesforce.
    for id in ids {
        assert!(vs[0].refresh(id, Trigger::Forced).await.unwrap().is_ok());
    }
    assert_eq!(w.sim.stats().reuse_detected, 0);
    w.app.stop().await;
}

both_backends!(
    keys_rotate_in_a_loop_while_eight_workers_heartbeat_loses_no_token,
    key_rotation_never_races_a_refresh
);

/// Defect 2, the race itself: a rotation that meets a row under a refresh's lease leaves it (and
/// its fence) alone, so the holder's write lands; the row is re-sealed on a later run.
async fn rotation_leaves_a_leased_row_to_its_holder(db: TestDb) {
    let k1 = domain::security::crypto::Sealer::generate_key("k1");
    let k2 = domain::security::crypto::Sealer::generate_key("k2");
    let (w, ids) = many(db, 1, |c| c.crypto.keys = vec![k1.clone()]).await;
    let v = w.app.state.vault.clone().unwrap();
    let row = connections(&w).await.remove(0);
    let domain::vault::lease::Claim::Taken(lease) = v
        .leases()
        .claim(&row, domain::vault::lease::Purpose::Exchange, false)
        .await
        .unwrap()
    else {
        panic!("the lease is free");
    };
    let both = domain::security::crypto::Sealer::from_config(&domain::config::CryptoConfig {
        keys: vec![k1, k2],
        key_file: None,
        ..Default::default()
    })
    .unwrap();
    let report = domain::security::keys::rotate(&w.db.db, &both)
        .await
        .unwrap();
    assert_eq!(
        (report.connections, report.left_leased),
        (0, 1),
        "{report:?}"
    );
    // The holder stores what its exchange returned: its fence still matches.
    let sealer = v.sealer();
    let rt = secrecy::SecretString::from("5Aep861-rotated".to_owned());
    let at = secrecy::SecretString::from("00D!at".to_owned());
    let stored = v
        .leases()
        .persist(
            &lease,
            &domain::vault::lease::Persist {
                refresh_token: sealer
                    .seal_str(&rt, &domain::vault::store::aad(row.id, "refresh_token")),
                access_token: Some(
                    sealer.seal_str(&at, &domain::vault::store::aad(row.id, "access_token")),
                ),
                instance_url: row.instance_url.clone(),
                anomaly: None,
                next_heartbeat_at: chrono::Utc::now() + chrono::Duration::days(25),
                now: chrono::Utc::now(),
                status: None,
            },
        )
        .await
        .unwrap();
    assert!(
        stored,
        "the lease holder's write lands after a rotation ran"
    );
    // Free again, the row is re-sealed on the next run, and the token is the holder's.
    let report = domain::security::keys::rotate(&w.db.db, &both)
        .await
        .unwrap();
    assert_eq!(report.connections, 1);
    let after = connections(&w).await.remove(0);
    assert_eq!(after.key_id.as_deref(), Some("k2"));
    let token = domain::vault::store::refresh_token(&after, &both)
        .unwrap()
        .unwrap();
    assert_eq!(token.expose_secret(), "5Aep861-rotated");
    let _ = ids;
    w.app.stop().await;
}

both_backends!(
    keys_rotate_leaves_a_row_under_a_refresh_lease_to_its_holder,
    rotation_leaves_a_leased_row_to_its_holder
);

/// Defect 3: one process's pool exhausted (a flood of API calls) for longer than the lease while
/// its refresh waits to store a rotated token, and another process sweeping for dead leases all
/// along. The holder's lease writes have a pool of their own, so the lease stays alive, the
/// token is stored, and the other process never recovers the row with the old token.
async fn persist_outlasts_a_stalled_database(db: TestDb) {
    let (w, ids) = many(db, 1, |_| {}).await;
    let opts = VaultOptions {
        lease: Duration::from_secs(3),
        ..Default::default()
    };
    let a = vaults(&w, 1, opts).remove(0);
    // The other process: its own pools, sweeping for expired leases every 200 ms.
    let other_db = domain::db::connect(&w.db.url).await.unwrap();
    let state = &w.app.state;
    let b = Vault::with_options(
        other_db,
        state.vault.as_ref().unwrap().sf().clone(),
        state.sealer.clone().unwrap(),
        state.config.clone(),
        state.clock.clone(),
        "other-process",
        opts,
    );
    w.sim.set_faults(sfsim::Faults {
        latency: Some(Duration::from_millis(300)),
        ..Default::default()
    });
    let refresh = {
        let a = a.clone();
        let id = ids[0];
        tokio::spawn(async move { a.refresh(id, Trigger::Forced).await })
    };
    loop {
        let c = connections(&w).await.remove(0);
        if c.status == ConnectionStatus::Refreshing {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Every connection of A's ordinary pool is taken.
    let mut held = Vec::new();
    while let Ok(Ok(t)) = tokio::time::timeout(Duration::from_millis(300), w.db.db.begin()).await {
        held.push(t);
    }
    assert!(!held.is_empty(), "the pool is exhausted");
    let sweeping = {
        let b = b.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            while started.elapsed() < Duration::from_secs(9) {
                domain::vault::heartbeat::sweep(&b, 10).await.unwrap();
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    // Three leases' worth of stall.
    sweeping.await.unwrap();
    drop(held);
    let answer = refresh.await.unwrap().unwrap();
    assert!(answer.is_ok(), "{answer:?}");
    w.sim.set_faults(sfsim::Faults::default());
    let st = w.sim.stats();
    assert_eq!((st.refresh_ok, st.reuse_detected), (1, 0), "{st:?}");
    let c = connections(&w).await.remove(0);
    assert_eq!(c.status, ConnectionStatus::Active);
    // The stored token is the rotated one.
    advance(&w, Duration::from_secs(11));
    assert!(b.refresh(ids[0], Trigger::Forced).await.unwrap().is_ok());
    assert_eq!(w.sim.stats().reuse_detected, 0);
    w.app.stop().await;
}

both_backends!(
    a_pool_stalled_longer_than_the_lease_during_a_persist_costs_no_token,
    persist_outlasts_a_stalled_database
);

/// Defect 5: a consent completing while the old connection is mid-refresh leaves exactly one
/// live grant at Salesforce.
async fn consent_during_a_refresh_leaves_one_live_grant(db: TestDb) {
    let (w, _proxy) = proxied_world(
        db,
        |_| {},
        |c| c.salesforce.http_timeout = Duration::from_millis(800),
    )
    .await;
    let _key = consent(&w).await;
    let old = connections(&w).await.remove(0);
    advance(&w, Duration::from_secs(11));
    // The old connection's refresh hangs at Salesforce (and is probed after the time-out).
    w.sim.set_faults(sfsim::Faults {
        hang_rate: 1.0,
        ..Default::default()
    });
    let vault = w.app.state.vault.clone().unwrap();
    let refresh = tokio::spawn({
        let v = vault.clone();
        async move { v.refresh(old.id, Trigger::Forced).await }
    });
    loop {
        let c = domain::entity::connection::Entity::find_by_id(old.id)
            .one(&w.db.db)
            .await
            .unwrap()
            .unwrap();
        if c.status == ConnectionStatus::Refreshing {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    w.sim.set_faults(sfsim::Faults::default());
    // The admin consents again meanwhile.
    let secret = new_link(&w, ACME).await;
    let auth = start(&w, &secret).await;
    let cb = authorize_as(auth, "admin@acme.com").await;
    assert_eq!(callback(&w, &cb).await.0, 200);
    refresh.await.unwrap().unwrap().ok();
    let conns = connections(&w).await;
    let statuses: Vec<_> = conns.iter().map(|c| (c.id, c.status)).collect();
    assert_eq!(
        conns
            .iter()
            .filter(|c| c.status == ConnectionStatus::Active)
            .count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        conns.iter().find(|c| c.id == old.id).unwrap().status,
        ConnectionStatus::Superseded
    );
    let live: Vec<_> = w.sim.grants().into_iter().filter(|g| !g.revoked).collect();
    assert_eq!(
        live.len(),
        1,
        "exactly one live grant at Salesforce: {live:?}"
    );
    assert_eq!(w.sim.stats().reuse_detected, 0);
    w.app.stop().await;
}

both_backends!(
    a_consent_while_the_old_connection_is_refreshing_leaves_exactly_one_live_grant,
    consent_during_a_refresh_leaves_one_live_grant
);

/// Defect 6: a verification that fails twice is retried on its schedule and succeeds without
/// anyone clicking; the connection is heartbeated meanwhile.
async fn failed_verifications_are_retried_until_verified(db: TestDb) {
    let (w, proxy) = proxied_world(db, |_| {}, |_| {}).await;
    proxy.fail_identity(2);
    let secret = new_link(&w, ACME).await;
    let auth = start(&w, &secret).await;
    let cb = authorize_as(auth, "admin@acme.com").await;
    assert_eq!(callback(&w, &cb).await.0, 200);
    let c = connections(&w).await.remove(0);
    assert_eq!(
        (c.status, c.verify_attempts),
        (ConnectionStatus::Verifying, 1)
    );
    let vault = w.app.state.vault.clone().unwrap();
    let flow = domain::reconsent::Flow {
        db: &w.db.db,
        vault: &vault,
        config: &w.app.state.config,
    };
    let now = || w.app.state.clock.now();
    // Not due yet.
    let r = domain::reconsent::verify_due(&flow, now(), 10)
        .await
        .unwrap();
    assert_eq!((r.verified, r.failed), (0, 0));
    advance(&w, Duration::from_secs(61));
    let r = domain::reconsent::verify_due(&flow, now(), 10)
        .await
        .unwrap();
    assert_eq!((r.verified, r.failed), (0, 1));
    // A waiting connection holds a real refresh token: the heartbeat keeps it alive.
    w.db.db
        .execute_unprepared("UPDATE connections SET next_heartbeat_at = created_at")
        .await
        .unwrap();
    let hb = domain::vault::heartbeat::sweep(&vault, 10).await.unwrap();
    assert_eq!(hb.refreshed, 1, "{hb:?}");
    assert_eq!(
        connections(&w).await[0].status,
        ConnectionStatus::Verifying,
        "a heartbeat does not promote"
    );
    advance(&w, Duration::from_secs(5 * 60 + 1));
    let r = domain::reconsent::verify_due(&flow, now(), 10)
        .await
        .unwrap();
    assert_eq!((r.verified, r.failed), (1, 0));
    let c = connections(&w).await.remove(0);
    assert_eq!(c.status, ConnectionStatus::Active);
    let org = domain::registry::show(&w.db.db, &domain::types::OrgId::parse(ACME).unwrap())
        .await
        .unwrap();
    assert_eq!(org.org.state, domain::registry::state::OrgState::Verified);
    assert_eq!(w.sim.stats().reuse_detected, 0);
    w.app.stop().await;
}

both_backends!(
    a_verification_failing_twice_then_succeeding_is_verified_without_a_click,
    failed_verifications_are_retried_until_verified
);

/// Defect 8: a strict OpenID Connect provider refuses `nonce` without `openid`; reauth sends the
/// nonce only with `openid`, and then checks it in the ID token.
async fn strict_oidc_providers_accept_the_authorize_request(db: TestDb) {
    let (w, _proxy) = proxied_world(db, |s| s.settings.oidc_strict = true, |_| {}).await;
    let secret = new_link(&w, ACME).await;
    let auth = start(&w, &secret).await;
    assert!(
        !auth.query_pairs().any(|(k, _)| k == "nonce"),
        "no nonce without openid"
    );
    let cb = authorize_as(auth, "admin@acme.com").await;
    assert!(!cb.contains("error="), "{cb}");
    assert_eq!(callback(&w, &cb).await.0, 200);
    assert_eq!(
        connections(&w).await[0].status,
        ConnectionStatus::Active,
        "consented and verified"
    );
    w.app.stop().await;
}

both_backends!(
    an_oidc_strict_provider_accepts_reauths_authorize_request,
    strict_oidc_providers_accept_the_authorize_request
);

async fn id_token_nonces_are_checked(db: TestDb) {
    let (w, proxy) = proxied_world(
        db,
        |s| s.settings.oidc_strict = true,
        |c| {
            c.salesforce.scopes = vec!["api".into(), "refresh_token".into(), "openid".into()];
        },
    )
    .await;
    let secret = new_link(&w, ACME).await;
    let auth = start(&w, &secret).await;
    assert!(auth.query_pairs().any(|(k, _)| k == "nonce"));
    let cb = authorize_as(auth, "admin@acme.com").await;
    assert_eq!(
        callback(&w, &cb).await.0,
        200,
        "the ID token's nonce matches"
    );
    assert_eq!(connections(&w).await.len(), 1);
    // An ID token for another sign-in's nonce: refused and its grant revoked.
    proxy.set(Tamper::WrongNonce);
    let secret = new_link(&w, ACME).await;
    let auth = start(&w, &secret).await;
    let cb = authorize_as(auth, "admin@acme.com").await;
    let (status, _) = callback(&w, &cb).await;
    assert_ne!(status, 200);
    assert_eq!(connections(&w).await.len(), 1, "nothing kept");
    let live = w.sim.grants().into_iter().filter(|g| !g.revoked).count();
    assert_eq!(live, 1, "the refused grant was revoked");
    w.app.stop().await;
}

both_backends!(
    an_id_token_for_another_sign_in_is_refused_and_revoked,
    id_token_nonces_are_checked
);
