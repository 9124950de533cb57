//! The token API: keys and precise errors, empty forced-refresh posts, and what /metrics reports.

use std::time::Duration;

use domain::events::Actor;
use reauth_tests::{TestDb, both_backends};
use serde_json::Value;

use crate::reconsent_flow::connections;

use super::{ACME, advance, connected, force, get_token};

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
