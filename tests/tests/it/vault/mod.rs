//! The token vault and the token API against sfsim: single flight, debouncing, needs-reauth,
//! crashes mid-rotation, ambiguous answers, customer setup refusals and the idle heartbeat.
//! The helpers here (a consented world, token-API calls, moving both clocks) serve the
//! modules below: `token_api`, `single_flight`, `failures` and `heartbeat`.

use std::time::Duration;

use domain::events::Actor;
use reauth_tests::TestDb;
use secrecy::ExposeSecret;
use serde_json::Value;

use crate::reconsent_flow::{World, authorize_as, callback, new_link, start, world_custom};

mod failures;
mod heartbeat;
mod single_flight;
mod token_api;

pub(super) const ACME: &str = "00D4c0000008cs2EAA";

/// A world where Acme has consented, and an API key.
pub(super) async fn connected(
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

pub(super) async fn get_token(
    w: &World,
    key: &str,
    org: &str,
) -> (u16, reqwest::header::HeaderMap, Value) {
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

pub(super) async fn force(w: &World, key: &str, body: Value) -> (u16, Value) {
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
pub(super) fn advance(w: &World, d: Duration) {
    w.app.state.clock.advance(d);
    w.sim.advance_clock(d);
}
