//! The token vault and the token API against sfsim: single flight, debouncing, needs-reauth,
//! crashes mid-rotation, ambiguous answers, customer setup refusals and the idle heartbeat.

use domain::entity::connection::ConnectionStatus;
use std::time::Duration;

use domain::events::Actor;
use domain::types::OrgId;
use domain::vault::{Trigger, VaultError};
use reauth_tests::{TestDb, both_backends};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};
use secrecy::ExposeSecret;
use serde_json::Value;

use crate::reconsent_flow::{
    World, authorize_as, callback, connections, new_link, start, world_custom,
};

const ACME: &str = "00D4c0000008cs2EAA";

/// A world where Acme has consented, and an API key.
async fn connected(
    db: TestDb,
    sim: impl FnOnce(&mut sfsim::Config),
    cfg: impl FnOnce(&mut domain::config::Config),
) -> (World, String) {
    let w = world_custom(db, true, sim, cfg).await;
    let secret = new_link(&w, ACME).await;
    let auth = start(&w, &secret).await;
    let cb = authorize_as(auth, "admin@acme.com").await;
    assert_eq!(callback(&w, &cb).await.0, 200);
    let (key, _) = domain::security::api_keys::create(
        &w.db.db,
        "billing-service",
        &Actor::Cli("t".into()),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    (w, key.expose_secret().to_owned())
}

async fn get_token(w: &World, key: &str, org: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let r = w
        .app
        .client
        .get(format!("{}/api/v1/orgs/{org}/access-token", w.app.base))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let (s, h) = (r.status().as_u16(), r.headers().clone());
    (s, h, r.json().await.unwrap_or(Value::Null))
}

async fn force(w: &World, key: &str, body: Value) -> (u16, Value) {
    let r = w
        .app
        .client
        .post(format!(
            "{}/api/v1/orgs/{ACME}/access-token/refresh",
            w.app.base
        ))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Moves reauth's and Salesforce's clocks together.
fn advance(w: &World, d: Duration) {
    w.app.state.clock.advance(d);
    w.sim.advance_clock(d);
}

async fn token_api_answers_with_keys_and_precise_errors(db: TestDb) {
    let (w, key) = connected(db, |_| {}, |_| {}).await;
    let r = w
        .app
        .client
        .get(format!("{}/api/v1/orgs/{ACME}/access-token", w.app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    assert_eq!(get_token(&w, "rk_wrong", ACME).await.0, 401);
    let (s, _, b) = get_token(&w, &key, "00D000000000009").await;
    assert_eq!((s, b["error"].as_str()), (404, Some("unknown_org")));
    let (s, _, b) = get_token(&w, &key, "00D4c0000008cs3").await; // the sandbox never consented
    assert_eq!((s, b["error"].as_str()), (404, Some("no_connection")));

    let (s, h, b) = get_token(&w, &key, "00D4c0000008cs2").await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(b["org_id"], ACME);
    assert_eq!(b["instance_url"], w.sim.base_url());
    assert!(
        b["access_token"]
            .as_str()
            .unwrap()
            .starts_with("00D4c0000008cs2!")
    );
    assert_eq!(
        w.sim.stats().refresh_ok,
        0,
        "a fresh token needs no exchange"
    );
    // The token works at Salesforce.
    let id = connections(&w).await[0].id_url.clone();
    let r = reauth_tests::http_client()
        .get(id)
        .bearer_auth(b["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The OpenAPI document is served.
    let doc: Value = w
        .app
        .client
        .get(format!("{}/api/openapi.json", w.app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/api/v1/orgs/{org_id}/access-token"]["get"].is_object());
    // A revoked key stops working.
    let k = domain::security::api_keys::list(&w.db.db)
        .await
        .unwrap()
        .remove(0);
    assert!(k.last_used_at.is_some(), "last use is recorded");
    domain::security::api_keys::revoke(&w.db.db, k.id, &Actor::Cli("t".into()), chrono::Utc::now())
        .await
        .unwrap();
    advance(&w, Duration::from_secs(11)); // verified keys are cached for 10 seconds
    assert_eq!(get_token(&w, &key, ACME).await.0, 401);
    w.app.stop().await;
}

both_backends!(
    token_api_requires_a_key_and_answers_precisely,
    token_api_answers_with_keys_and_precise_errors
);

async fn thousand_concurrent_requests_share_one_exchange(db: TestDb) {
    let (w, key) = connected(db, |_| {}, |_| {}).await;
    advance(&w, Duration::from_secs(3 * 3600)); // the access token is stale now
    let calls = (0..1000).map(|_| get_token(&w, &key, ACME));
    let answers = futures::future::join_all(calls).await;
    assert!(
        answers.iter().all(|(s, _, _)| *s == 200),
        "{:?}",
        answers.iter().find(|a| a.0 != 200)
    );
    let tokens: std::collections::HashSet<_> = answers
        .iter()
        .map(|(_, _, b)| b["access_token"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(tokens.len(), 1, "everyone got the one refreshed token");
    let st = w.sim.stats();
    assert_eq!(
        (st.refresh_ok, st.reuse_detected, st.concurrent_rejected),
        (1, 0, 0)
    );
    w.app.stop().await;
}

both_backends!(
    a_thousand_concurrent_requests_cause_exactly_one_exchange,
    thousand_concurrent_requests_share_one_exchange
);

async fn forced_refreshes_are_debounced_and_resets_the_clock(db: TestDb) {
    let (w, key) = connected(db, |_| {}, |_| {}).await;
    let (_, _, first) = get_token(&w, &key, ACME).await;
    let old = first["access_token"].as_str().unwrap().to_owned();
    // Within heartbeat.min_gap of the consent's exchange: debounced.
    let (s, b) = force(&w, &key, serde_json::json!({})).await;
    assert_eq!((s, b["access_token"].as_str()), (200, Some(old.as_str())));
    assert_eq!(w.sim.stats().refresh_ok, 0);
    advance(&w, Duration::from_secs(11));
    let (s, b) = force(
        &w,
        &key,
        serde_json::json!({ "rejected_access_token": old }),
    )
    .await;
    assert_eq!(s, 200);
    let new = b["access_token"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(w.sim.stats().refresh_ok, 1);
    // A caller still holding the old token gets the newer one without another exchange.
    advance(&w, Duration::from_secs(11));
    let (s, b) = force(
        &w,
        &key,
        serde_json::json!({ "rejected_access_token": old }),
    )
    .await;
    assert_eq!((s, b["access_token"].as_str()), (200, Some(new.as_str())));
    assert_eq!(w.sim.stats().refresh_ok, 1);
    // Every exchange resets the heartbeat clock.
    let c = connections(&w).await.remove(0);
    assert!(c.next_heartbeat_at.unwrap() > c.last_exchange_at + chrono::Duration::days(23));
    w.app.stop().await;
}

both_backends!(
    forced_refreshes_share_debounce_and_skip_newer_tokens,
    forced_refreshes_are_debounced_and_resets_the_clock
);

async fn revoked_user_moves_exactly_that_org_to_needs_reauth(db: TestDb) {
    let (w, key) = connected(db, |_| {}, |_| {}).await;
    assert_eq!(w.sim.revoke_user_grants("admin@acme.com"), 1);
    advance(&w, Duration::from_secs(11));
    let (s, b) = force(&w, &key, serde_json::json!({})).await;
    assert_eq!((s, b["error"].as_str()), (409, Some("needs_reauth")));
    assert!(
        b["reason"]
            .as_str()
            .unwrap()
            .contains("expired access/refresh token"),
        "{b}"
    );
    let org = domain::registry::show(&w.db.db, &OrgId::parse(ACME).unwrap())
        .await
        .unwrap();
    assert_eq!(
        org.org.state,
        domain::registry::state::OrgState::NeedsReauth
    );
    let notices = domain::entity::notice::Entity::find()
        .all(&w.db.db)
        .await
        .unwrap();
    assert_eq!(
        notices.iter().map(|n| n.kind.as_str()).collect::<Vec<_>>(),
        ["confirmation", "reauth_needed"],
        "the confirmation of the consent, then the call to reconnect"
    );
    assert_eq!(
        domain::entity::alert::Entity::find()
            .all(&w.db.db)
            .await
            .unwrap()
            .len(),
        1
    );
    let sandbox = domain::registry::show(&w.db.db, &OrgId::parse("00D4c0000008cs3").unwrap())
        .await
        .unwrap();
    assert_eq!(
        sandbox.org.state,
        domain::registry::state::OrgState::Pending,
        "other orgs are untouched"
    );
    // The API keeps saying so, without calling Salesforce again.
    let before = w.sim.stats().refresh_rejected.values().sum::<u64>();
    assert_eq!(get_token(&w, &key, ACME).await.0, 409);
    assert_eq!(w.sim.stats().refresh_rejected.values().sum::<u64>(), before);
    w.app.stop().await;
}

both_backends!(
    a_revoked_user_moves_that_org_to_needs_reauth_with_a_notice,
    revoked_user_moves_exactly_that_org_to_needs_reauth
);

/// Leaves the connection as a worker that died mid-refresh would: `refreshing`, lease expired.
async fn crash_mid_refresh(w: &World) {
    let c = connections(w).await.remove(0);
    let mut a: domain::entity::connection::ActiveModel = c.into();
    a.status = Set(ConnectionStatus::Refreshing);
    a.lease_owner = Set(Some("worker-that-died".into()));
    a.lease_expires_at = Set(Some(chrono::Utc::now() - chrono::Duration::seconds(1)));
    a.update(&w.db.db).await.unwrap();
}

async fn crashes_are_recovered_or_reported_precisely(db: TestDb) {
    let (w, _key) = connected(db, |_| {}, |_| {}).await;
    let vault = w.app.state.vault.clone().unwrap();
    // 1. The worker died before Salesforce saw its request: the probe recovers the token.
    crash_mid_refresh(&w).await;
    let r = domain::vault::heartbeat::sweep(&vault, 100).await.unwrap();
    assert_eq!((r.due, r.refreshed), (1, 1));
    assert_eq!(connections(&w).await[0].status, ConnectionStatus::Active);

    // 2. The worker died after Salesforce rotated: the stored token is dead, and we say exactly that.
    let c = connections(&w).await.remove(0);
    let sealer = w.app.state.sealer.clone().unwrap();
    let rt = domain::vault::store::refresh_token(&c, &sealer)
        .unwrap()
        .unwrap();
    let sf = w.app.state.vault.as_ref().unwrap().sf().clone();
    let login =
        domain::types::LoginUrl::parse(w.sim.base_url(), &[w.sim.host_port().to_owned()]).unwrap();
    sf.refresh(&login, &rt).await.unwrap(); // the dead worker's exchange, whose answer was lost
    crash_mid_refresh(&w).await;
    let r = domain::vault::heartbeat::sweep(&vault, 100).await.unwrap();
    assert_eq!(r.needs_reauth, 1);
    let c = connections(&w).await.remove(0);
    assert_eq!(c.status, ConnectionStatus::NeedsReauth);
    assert!(
        c.last_error
            .as_deref()
            .unwrap()
            .starts_with("rotation lost in a crash"),
        "{:?}",
        c.last_error
    );
    w.app.stop().await;
}

both_backends!(
    a_crash_mid_rotation_is_recovered_or_named_precisely,
    crashes_are_recovered_or_reported_precisely
);

async fn ambiguous_answers_get_one_probe_never_a_blind_resend(db: TestDb) {
    let (w, key) = connected(
        db,
        |_| {},
        |c| c.salesforce.http_timeout = Duration::from_millis(500),
    )
    .await;
    // 503s: Salesforce did nothing; the probe is refused too; the token is untouched.
    w.sim.set_faults(sfsim::Faults {
        error_rate: 1.0,
        ..Default::default()
    });
    advance(&w, Duration::from_secs(11));
    let (s, b) = force(&w, &key, serde_json::json!({})).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (503, Some("salesforce_unavailable"))
    );
    w.sim.set_faults(sfsim::Faults::default());
    advance(&w, Duration::from_secs(11));
    assert_eq!(
        force(&w, &key, serde_json::json!({})).await.0,
        200,
        "the token survived the 5xx"
    );

    // Rotated then dropped: the probe makes the loss explicit instead of hiding it.
    w.sim.set_faults(sfsim::Faults {
        drop_after_rotate_rate: 1.0,
        ..Default::default()
    });
    advance(&w, Duration::from_secs(11));
    let vault = w.app.state.vault.clone().unwrap();
    let c = connections(&w).await.remove(0);
    let out = vault.refresh(c.id, Trigger::Forced).await.unwrap();
    w.sim.set_faults(sfsim::Faults::default());
    assert!(
        matches!(&out, Err(VaultError::NeedsReauth { reason, .. }) if reason.starts_with("rotation lost:")),
        "{out:?}"
    );
    let st = w.sim.stats();
    assert_eq!(
        (st.dropped_responses, st.reuse_detected),
        (1, 1),
        "exactly one probe, no blind resends"
    );
    w.app.stop().await;
}

both_backends!(
    ambiguous_answers_get_one_probe_and_never_a_blind_resend,
    ambiguous_answers_get_one_probe_never_a_blind_resend
);

async fn customer_setup_refusals_keep_the_token_and_ask_the_customer(db: TestDb) {
    let (w, key) = connected(db, |_| {}, |_| {}).await;
    w.sim
        .set_app_state(ACME, "reauth-eca", sfsim::AppInstall::Blocked);
    advance(&w, Duration::from_secs(11));
    let (s, b) = force(&w, &key, serde_json::json!({})).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (409, Some("customer_action_required"))
    );
    let org = domain::registry::show(&w.db.db, &OrgId::parse(ACME).unwrap())
        .await
        .unwrap();
    assert_eq!(
        org.org.state,
        domain::registry::state::OrgState::NeedsAttention
    );
    assert_eq!(org.attention_owner.as_deref(), Some("customer"));
    assert!(org.attention_reason.unwrap().contains("unblock the app"));
    w.sim
        .set_app_state(ACME, "reauth-eca", sfsim::AppInstall::Installed);
    advance(&w, Duration::from_secs(11));
    assert_eq!(
        force(&w, &key, serde_json::json!({})).await.0,
        200,
        "once fixed, the same grant works"
    );
    w.app.stop().await;
}

both_backends!(
    customer_setup_refusals_keep_the_grant_and_ask_the_customer,
    customer_setup_refusals_keep_the_token_and_ask_the_customer
);

async fn heartbeat_keeps_idle_tokens_alive(db: TestDb) {
    // sfsim's client: 30-day idle policy; reauth: 25-day heartbeat.
    let (w, key) = connected(db, |_| {}, |_| {}).await;
    let vault = w.app.state.vault.clone().unwrap();
    for _ in 0..6 {
        // Six months, swept daily: many times the idle timeout.
        for _ in 0..30 {
            advance(&w, Duration::from_secs(86_400));
            domain::vault::heartbeat::sweep(&vault, 100).await.unwrap();
        }
    }
    let st = w.sim.stats();
    assert!(
        st.refresh_ok >= 7,
        "about one refresh per 25 days: {}",
        st.refresh_ok
    );
    assert!(st.refresh_rejected.is_empty(), "{:?}", st.refresh_rejected);
    assert_eq!(get_token(&w, &key, ACME).await.0, 200);
    w.app.stop().await;
}

both_backends!(
    the_heartbeat_keeps_tokens_alive_past_many_idle_timeouts,
    heartbeat_keeps_idle_tokens_alive
);

async fn without_heartbeat_tokens_idle_out(db: TestDb) {
    let (w, key) = connected(db, |_| {}, |_| {}).await;
    advance(&w, Duration::from_secs(31 * 86_400));
    let (s, _, b) = get_token(&w, &key, ACME).await;
    assert_eq!((s, b["error"].as_str()), (409, Some("needs_reauth")));
    w.app.stop().await;
}

both_backends!(
    without_the_heartbeat_tokens_idle_out,
    without_heartbeat_tokens_idle_out
);

async fn two_vaults_never_use_a_token_twice(db: TestDb) {
    // Two processes' vaults over one database: the lease, not luck, keeps them apart.
    let (w, _key) = connected(db, |_| {}, |_| {}).await;
    let cfg = w.app.state.config.clone();
    let other = domain::vault::Vault::from_config(
        w.db.db.clone(),
        cfg,
        w.app.state.clock.clone(),
        "other-process",
    )
    .unwrap()
    .unwrap();
    let mine = w.app.state.vault.clone().unwrap();
    let id = connections(&w).await[0].id;
    for round in 0..5 {
        advance(&w, Duration::from_secs(11));
        let calls = (0..40).map(|i| {
            let v = if i % 2 == 0 {
                mine.clone()
            } else {
                other.clone()
            };
            async move { v.refresh(id, Trigger::Forced).await.unwrap() }
        });
        let results = futures::future::join_all(calls).await;
        assert!(
            results.iter().all(Result::is_ok),
            "round {round}: {:?}",
            results.iter().find(|r| r.is_err())
        );
    }
    let st = w.sim.stats();
    assert_eq!((st.reuse_detected, st.concurrent_rejected), (0, 0));
    // A vault that waited out the other's lease and finds a fresh token uses it: at least one
    // exchange per round, never more than one per call.
    assert!((5..=200).contains(&st.refresh_ok), "{}", st.refresh_ok);
    assert_eq!(connections(&w).await[0].status, ConnectionStatus::Active);
    w.app.stop().await;
}

both_backends!(
    two_processes_vaults_never_use_a_refresh_token_twice,
    two_vaults_never_use_a_token_twice
);

async fn metrics_report_refresh_outcomes_and_connections(db: TestDb) {
    let (w, key) = connected(db, |_| {}, |_| {}).await;
    advance(&w, Duration::from_secs(11));
    assert_eq!(force(&w, &key, serde_json::json!({})).await.0, 200);
    let text = w
        .app
        .client
        .get(format!("{}/metrics", w.app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .map(str::to_owned)
    };
    assert_eq!(
        line("reauth_refresh_total{outcome=\"ok\"}").as_deref(),
        Some("reauth_refresh_total{outcome=\"ok\"} 1"),
        "{text}"
    );
    assert_eq!(
        line("reauth_connections{status=\"active\"}").as_deref(),
        Some("reauth_connections{status=\"active\"} 1"),
        "{text}"
    );
    let days: f64 = line("reauth_idle_expiry_days_min")
        .unwrap()
        .split_whitespace()
        .last()
        .unwrap()
        .parse()
        .unwrap();
    assert!((29.0..=30.0).contains(&days), "{days}");
    assert!(line("reauth_refresh_seconds").is_some(), "{text}");
    w.app.stop().await;
}

both_backends!(
    metrics_report_refresh_outcomes_connections_and_idle_expiry,
    metrics_report_refresh_outcomes_and_connections
);

async fn hangs_and_rate_limits_are_retried_and_recover(db: TestDb) {
    let (w, key) = connected(
        db,
        |_| {},
        |c| c.salesforce.http_timeout = Duration::from_millis(300),
    )
    .await;
    for faults in [
        sfsim::Faults {
            hang_rate: 1.0,
            ..Default::default()
        },
        sfsim::Faults {
            rate_limit_rate: 1.0,
            ..Default::default()
        },
    ] {
        w.sim.set_faults(faults);
        advance(&w, Duration::from_secs(11));
        let (s, b) = force(&w, &key, serde_json::json!({})).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (503, Some("salesforce_unavailable")),
            "{b}"
        );
        let c = connections(&w).await.remove(0);
        assert_eq!(c.status, ConnectionStatus::Active, "the grant stands");
        assert!(
            c.next_heartbeat_at.unwrap()
                < c.last_exchange_at + chrono::Duration::hours(1) + chrono::Duration::minutes(5)
                || c.last_error_class == Some(domain::vault::ErrorClass::Transient)
        );
        w.sim.set_faults(sfsim::Faults::default());
        advance(&w, Duration::from_secs(11));
        assert_eq!(
            force(&w, &key, serde_json::json!({})).await.0,
            200,
            "recovers once Salesforce does"
        );
    }
    let st = w.sim.stats();
    assert_eq!((st.reuse_detected, st.concurrent_rejected), (0, 0));
    w.app.stop().await;
}

both_backends!(
    hangs_and_rate_limits_are_retried_and_recover,
    hangs_and_rate_limits_are_retried_and_recover
);

async fn without_rotation_the_old_refresh_token_is_kept(db: TestDb) {
    let (w, key) = connected(db, |c| c.clients[0].rotation = false, |_| {}).await;
    let sealer = w.app.state.sealer.clone().unwrap();
    let before = domain::vault::store::refresh_token(&connections(&w).await[0], &sealer)
        .unwrap()
        .unwrap();
    for _ in 0..3 {
        advance(&w, Duration::from_secs(11));
        assert_eq!(force(&w, &key, serde_json::json!({})).await.0, 200);
    }
    let after = domain::vault::store::refresh_token(&connections(&w).await[0], &sealer)
        .unwrap()
        .unwrap();
    assert_eq!(
        after.expose_secret(),
        before.expose_secret(),
        "an answer without refresh_token keeps the stored one"
    );
    assert_eq!(w.sim.stats().refresh_ok, 3);
    w.app.stop().await;
}

both_backends!(
    without_rotation_the_stored_refresh_token_is_kept,
    without_rotation_the_old_refresh_token_is_kept
);

async fn a_caller_that_goes_away_never_loses_a_rotation(db: TestDb) {
    let (w, key) = connected(db, |_| {}, |_| {}).await;
    advance(&w, Duration::from_secs(11));
    // Salesforce answers slowly; the partner's service gives up after 300 ms and disconnects.
    w.sim.set_faults(sfsim::Faults {
        latency: Some(Duration::from_millis(1500)),
        ..Default::default()
    });
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let r = impatient
        .post(format!(
            "{}/api/v1/orgs/{ACME}/access-token/refresh",
            w.app.base
        ))
        .bearer_auth(&key)
        .json(&serde_json::json!({}))
        .send()
        .await;
    assert!(r.is_err_and(|e| e.is_timeout()), "the client gave up");
    // The refresh it started goes on without it and stores the rotated token.
    let mut stored = false;
    for _ in 0..100 {
        let c = connections(&w).await.remove(0);
        if w.sim.stats().refresh_ok == 1 && c.status == ConnectionStatus::Active && c.version > 1 {
            stored = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    w.sim.set_faults(sfsim::Faults::default());
    assert!(
        stored,
        "the rotation finished and was stored: {:?}",
        connections(&w).await
    );
    // The stored token is the live one: the next exchange works, and Salesforce never saw a
    // rotated-out token again.
    advance(&w, Duration::from_secs(11));
    let (s, b) = force(&w, &key, serde_json::json!({})).await;
    assert_eq!(s, 200, "{b}");
    let st = w.sim.stats();
    assert_eq!((st.refresh_ok, st.reuse_detected), (2, 0));
    w.app.stop().await;
}

both_backends!(
    a_client_that_disconnects_mid_refresh_loses_nothing,
    a_caller_that_goes_away_never_loses_a_rotation
);

async fn empty_refresh_posts_are_accepted_whatever_their_content_type(db: TestDb) {
    let (w, key) = connected(db, |_| {}, |_| {}).await;
    let url = format!("{}/api/v1/orgs/{ACME}/access-token/refresh", w.app.base);
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        advance(&w, Duration::from_secs(11));
        let mut r = w.app.client.post(&url).bearer_auth(&key);
        if let Some(t) = content_type {
            r = r.header("content-type", t);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), 200, "{content_type:?}");
    }
    let r = w
        .app
        .client
        .post(&url)
        .bearer_auth(&key)
        .body("rejected=yes")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"], "bad_request");
    w.app.stop().await;
}

both_backends!(
    an_empty_forced_refresh_post_is_accepted_with_any_content_type,
    empty_refresh_posts_are_accepted_whatever_their_content_type
);
