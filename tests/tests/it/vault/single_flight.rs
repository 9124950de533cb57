//! One exchange at a time per token: concurrent callers share it, forced refreshes are
//! debounced, two vaults never present a token twice, and a caller that goes away loses nothing.

use domain::entity::connection::ConnectionStatus;
use std::time::Duration;

use domain::vault::Trigger;
use reauth_tests::{TestDb, both_backends};

use crate::reconsent_flow::connections;

use super::{ACME, advance, connected, force, get_token};

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
