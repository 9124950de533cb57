//! Client secret changes: a new secret, a staged rotation, and what a wrong secret costs.

use reqwest::Method;
use serde_json::{Value, json};
use sfsim::{RevokeReason, Sim};

use crate::{connect, control, err, expected_signature, sim_with, token};

async fn refresh_with(sim: &Sim, rt: &str, secret: &str) -> (u16, Value) {
    token(
        sim,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", "reauth-eca"),
            ("client_secret", secret),
        ],
    )
    .await
}

#[tokio::test]
async fn a_changed_secret_refuses_the_old_one_without_consuming_the_token() {
    let sim = sim_with(|_| {}).await;
    let rt = connect(&sim).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, _) = control(
        &sim,
        Method::PUT,
        "/_sim/clients/reauth-eca/secret",
        Some(json!({ "secret": "new-secret" })),
    )
    .await;
    assert_eq!(s, 204);
    for _ in 0..2 {
        let (s, b) = refresh_with(&sim, &rt, "reauth-eca-secret").await;
        assert_eq!(
            (s, err(&b)),
            (400, ("invalid_client", "invalid client credentials"))
        );
    }
    let (s, b) = refresh_with(&sim, &rt, "new-secret").await;
    assert_eq!(
        s, 200,
        "the refused attempts did not consume the token: {b}"
    );
    assert_eq!(b["signature"], expected_signature("new-secret", &b));
    let g = sim.grants().pop().unwrap();
    assert!(!g.revoked);
    assert_eq!(sim.stats().reuse_detected, 0);
    let (s, _) = control(
        &sim,
        Method::PUT,
        "/_sim/clients/nobody/secret",
        Some(json!({ "secret": "x" })),
    )
    .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn a_staged_rotation_accepts_both_secrets_and_signs_with_the_one_presented() {
    let sim = sim_with(|_| {}).await;
    let mut rt = connect(&sim).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(sim.set_client_secret("reauth-eca", "new-secret", true));
    for secret in ["reauth-eca-secret", "new-secret"] {
        let (s, b) = refresh_with(&sim, &rt, secret).await;
        assert_eq!(s, 200, "{secret}: {b}");
        assert_eq!(b["signature"], expected_signature(secret, &b), "{secret}");
        rt = b["refresh_token"].as_str().unwrap().to_owned();
    }
    assert_eq!(sim.stats().old_secret_accepted, 1);
    let cfg = sim.config();
    let c = cfg
        .clients
        .iter()
        .find(|c| c.client_id == "reauth-eca")
        .unwrap();
    assert_eq!(
        (
            c.client_secret.as_deref(),
            c.previous_client_secret.as_deref()
        ),
        (Some("new-secret"), Some("reauth-eca-secret"))
    );
    let (s, _) = control(
        &sim,
        Method::DELETE,
        "/_sim/clients/reauth-eca/previous-secret",
        None,
    )
    .await;
    assert_eq!(s, 204);
    assert_eq!(refresh_with(&sim, &rt, "reauth-eca-secret").await.0, 400);
    assert_eq!(refresh_with(&sim, &rt, "new-secret").await.0, 200);
}

#[tokio::test]
async fn a_wrong_secret_can_be_set_to_revoke_the_grant() {
    let sim = sim_with(|c| c.settings.bad_secret_revokes_grant = true).await;
    let rt = connect(&sim).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(refresh_with(&sim, &rt, "wrong").await.0, 400);
    let (s, b) = refresh_with(&sim, &rt, "reauth-eca-secret").await;
    assert_eq!((s, err(&b).1), (400, "expired access/refresh token"));
    let g = sim.grants().pop().unwrap();
    assert_eq!(g.revoked_reason, Some(RevokeReason::BadSecret));
}
