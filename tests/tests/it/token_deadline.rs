//! The token API's own deadline (`api.deadline`): a call whose refresh outlasts it answers 503
//! `busy` with `Retry-After`, the refresh still lands, and the vault counts the miss.

use std::time::Duration;

use domain::events::Actor;
use reauth_tests::{TestDb, both_backends};
use secrecy::ExposeSecret;
use serde_json::Value;

use crate::reconsent_flow::{World, authorize_as, callback, new_link, start, world_custom};

const ACME: &str = "00D4c0000008cs2EAA";

/// Acme consented, with `api.deadline` at `deadline`; an API key.
pub(crate) async fn connected(db: TestDb, deadline: Duration) -> (World, String) {
    let w = world_custom(db, true, |_| {}, |c| c.api.deadline = deadline).await;
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

async fn get_token(w: &World, key: &str) -> (u16, Value) {
    let r = w
        .app
        .client
        .get(format!("{}/api/v1/orgs/{ACME}/access-token", w.app.base))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// The value of an unlabelled counter in `/metrics` (`None`: not there).
async fn metric(w: &World, name: &str) -> Option<String> {
    let text = w.app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")).map(str::to_owned))
}

async fn a_refresh_past_the_deadline_answers_busy_lands_later_and_is_counted(db: TestDb) {
    let (w, key) = connected(db, Duration::from_millis(500)).await;
    let (s, before) = get_token(&w, &key).await;
    assert_eq!(s, 200, "{before}");
    let old = before["access_token"].as_str().unwrap().to_owned();
    // Past heartbeat.min_gap, so the forced refresh really exchanges.
    w.app.state.clock.advance(Duration::from_secs(11));
    w.sim.advance_clock(Duration::from_secs(11));
    // Salesforce now answers after 2 s: four times the deadline.
    let mut faults = w.sim.config().faults;
    faults.latency = Some(Duration::from_secs(2));
    w.sim.set_faults(faults.clone());

    let started = std::time::Instant::now();
    let r = w
        .app
        .client
        .post(format!(
            "{}/api/v1/orgs/{ACME}/access-token/refresh",
            w.app.base
        ))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(r.status(), 503);
    assert_eq!(
        r.headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned()),
        Some("2".to_owned())
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "busy", "{body}");
    assert!(
        took < Duration::from_secs(2),
        "the answer came at the deadline, not after the exchange: {took:?}"
    );
    assert_eq!(
        w.sim.stats().refresh_ok,
        0,
        "the exchange is still under way"
    );
    assert_eq!(
        metric(&w, "reauth_api_deadline_missed_total")
            .await
            .as_deref(),
        Some("1")
    );
    assert_eq!(w.app.state.vault.as_ref().unwrap().deadline_misses(), 1);

    // The exchange goes on without the caller, and its answer is stored.
    let mut landed = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let rows = crate::reconsent_flow::connections(&w).await;
        if w.sim.stats().refresh_ok == 1
            && rows[0].status == domain::entity::connection::ConnectionStatus::Active
            && rows[0].lease_owner.is_none()
        {
            landed = true;
            break;
        }
    }
    assert!(landed, "the refresh never landed: {:?}", w.sim.stats());
    // The next call is served the new token with no further exchange (Salesforce still slow).
    let (s, after) = get_token(&w, &key).await;
    assert_eq!(s, 200, "{after}");
    assert_ne!(after["access_token"].as_str().unwrap(), old);
    assert_eq!(w.sim.stats().refresh_ok, 1);
    assert_eq!(
        metric(&w, "reauth_api_deadline_missed_total")
            .await
            .as_deref(),
        Some("1"),
        "a call within the deadline is not counted"
    );
    w.app.stop().await;
}

both_backends!(
    a_token_call_past_api_deadline_answers_busy_and_its_refresh_lands,
    a_refresh_past_the_deadline_answers_busy_lands_later_and_is_counted
);
