//! The legacy Connected App of the default dataset, and grants minted without the browser flow.

use reqwest::Method;
use serde_json::{Value, json};
use sfsim::{Config, GrantOrigin, RefreshPolicy, RevokeReason};

use crate::{client, control, err, expected_signature, sim_with, token};

async fn legacy_refresh(sim: &sfsim::Sim, rt: &str) -> (u16, Value) {
    token(
        sim,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", "reauth-legacy"),
            ("client_secret", "reauth-legacy-secret"),
        ],
    )
    .await
}

#[tokio::test]
async fn default_dataset_has_a_legacy_app_without_rotation_valid_until_revoked() {
    let c = Config::default_dataset();
    let legacy = c
        .clients
        .iter()
        .find(|c| c.client_id == "reauth-legacy")
        .unwrap();
    assert_eq!(
        legacy.client_secret.as_deref(),
        Some("reauth-legacy-secret")
    );
    assert!(!legacy.rotation);
    assert_eq!(legacy.refresh_policy, RefreshPolicy::Infinite);
    assert_eq!(legacy.label(), "Reauth Legacy");
    let eca = c
        .clients
        .iter()
        .find(|c| c.client_id == "reauth-eca")
        .unwrap();
    assert_ne!(
        legacy.label(),
        eca.label(),
        "the two apps' rows can be told apart"
    );
}

#[tokio::test]
async fn a_minted_legacy_grant_refreshes_again_and_again_with_the_same_token() {
    let sim = sim_with(|_| {}).await;
    let (s, b) = control(
        &sim,
        Method::POST,
        "/_sim/grants",
        Some(json!({
            "client_id": "reauth-legacy",
            "username": "admin@acme.example",
            "scopes": ["api", "refresh_token"],
        })),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    for k in ["refresh_token", "access_token", "instance_url", "id"] {
        assert!(b[k].is_string(), "{k}: {b}");
    }
    assert!(b["grant_id"].is_u64());
    assert_eq!(
        b["id"],
        format!(
            "{}/id/00D000000000001EAA/005000000000001AAA",
            sim.base_url()
        )
    );
    let rt = b["refresh_token"].as_str().unwrap();
    for _ in 0..3 {
        let (s, r) = legacy_refresh(&sim, rt).await;
        assert_eq!(s, 200, "{r}");
        assert!(r.get("refresh_token").is_none(), "rotation is off");
        assert_eq!(
            r["signature"],
            expected_signature("reauth-legacy-secret", &r)
        );
    }
    let g = sim.grant(b["grant_id"].as_u64().unwrap()).unwrap();
    assert_eq!(
        (g.origin, g.rotations, g.use_count),
        (GrantOrigin::Minted, 0, 4)
    );
    assert_eq!(sim.stats().grants_minted, 1);
}

#[tokio::test]
async fn a_minted_grant_works_at_once_through_the_rust_api() {
    let sim = sim_with(|_| {}).await;
    let m = sim
        .mint_grant(
            "reauth-legacy",
            "user@acme.example",
            &["api", "refresh_token"],
        )
        .unwrap();
    let r = client()
        .get(format!("{}/services/data/v66.0/limits", m.instance_url))
        .bearer_auth(&m.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(m.id.ends_with("/005000000000003AAA"));
    let no_rt = sim
        .mint_grant("reauth-legacy", "user@acme.example", &["api"])
        .unwrap();
    assert!(no_rt.refresh_token.is_none(), "no refresh_token scope");
    assert_eq!(
        sim.mint_grant("reauth-legacy", "nobody@acme.example", &["api"]),
        Err(sfsim::SimError::UnknownUser("nobody@acme.example".into()))
    );
    let (s, _) = control(
        &sim,
        Method::POST,
        "/_sim/grants",
        Some(json!({ "client_id": "nope", "username": "admin@acme.example" })),
    )
    .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn legacy_tokens_are_revoked_without_client_authentication() {
    let sim = sim_with(|_| {}).await;
    let m = sim
        .mint_grant(
            "reauth-legacy",
            "admin@acme.example",
            &["api", "refresh_token"],
        )
        .unwrap();
    let rt = m.refresh_token.unwrap();
    let r = client()
        .post(format!("{}/services/oauth2/revoke", sim.base_url()))
        .form(&[("token", rt.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (s, b) = legacy_refresh(&sim, &rt).await;
    assert_eq!((s, err(&b).1), (400, "expired access/refresh token"));
    let g = sim.grant(m.grant_id).unwrap();
    assert!(g.revoked);
    assert_eq!(g.revoked_reason, Some(RevokeReason::RevokeEndpoint));
}
