//! `/_sim/steal`: a thief holding a grant's current refresh token.

use reqwest::Method;
use serde_json::json;
use sfsim::{RevokeReason, Steal};

use crate::{CALLBACK, authorize, connect, control, err, pkce, refresh, sim_with};

#[tokio::test]
async fn a_thief_without_the_secret_is_refused_logged_and_the_token_survives() {
    let sim = sim_with(|_| {}).await;
    let rt = connect(&sim).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let o = sim
        .steal(&Steal {
            username: Some("admin@acme.example".into()),
            client_id: Some("reauth-eca".into()),
            ..Steal::default()
        })
        .unwrap();
    assert!(!o.refreshed);
    assert_eq!(
        (o.status, o.error.as_deref()),
        (400, Some("invalid_client"))
    );
    assert_eq!(
        o.login_status.as_deref(),
        Some("Invalid client credentials")
    );
    assert_eq!(o.source_ip, "198.51.100.7");
    let row = sim.login_history().pop().unwrap();
    assert_eq!(
        (
            row.source_ip.as_str(),
            row.status.as_str(),
            row.login_sub_type.as_str()
        ),
        (
            "198.51.100.7",
            "Invalid client credentials",
            "OauthRefreshToken"
        )
    );
    assert_eq!(
        refresh(&sim, &rt).await.0,
        200,
        "the owner's token still works"
    );
    let st = sim.stats();
    assert_eq!(
        (st.steal_attempts, st.steal_ok, st.reuse_detected),
        (1, 0, 0)
    );
}

#[tokio::test]
async fn a_thief_outside_the_ip_allowlist_is_ip_restricted_even_with_the_secret() {
    let sim = sim_with(|c| {
        c.clients[0].ip_allowlist = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let rt = connect(&sim).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let o = sim
        .steal(&Steal {
            org_id: Some("00D000000000001".into()),
            with_secret: true,
            from_ip: Some("198.51.100.99".parse().unwrap()),
            ..Steal::default()
        })
        .unwrap();
    assert_eq!(
        (
            o.refreshed,
            o.error_description.as_deref(),
            o.login_status.as_deref()
        ),
        (false, Some("ip restricted"), Some("Restricted IP"))
    );
    assert_eq!(o.source_ip, "198.51.100.99");
    assert_eq!(refresh(&sim, &rt).await.0, 200);
    // From inside the allowlist, with the secret, the thief succeeds.
    let o = sim
        .steal(&Steal {
            username: Some("admin@acme.example".into()),
            with_secret: true,
            from_ip: Some("127.0.0.9".parse().unwrap()),
            ..Steal::default()
        })
        .unwrap();
    assert!(o.refreshed, "{o:?}");
}

#[tokio::test]
async fn a_successful_theft_rotates_so_the_owners_next_refresh_is_a_reuse() {
    let sim = sim_with(|_| {}).await;
    let b = connect(&sim).await;
    let rt = b["refresh_token"].as_str().unwrap();
    let (s, o) = control(
        &sim,
        Method::POST,
        "/_sim/steal",
        Some(json!({
            "username": "admin@acme.example",
            "client_id": "reauth-eca",
            "with_secret": true,
            "from_ip": "198.51.100.7",
        })),
    )
    .await;
    assert_eq!(s, 200, "{o}");
    assert_eq!(
        (o["refreshed"].as_bool(), o["status"].as_u64()),
        (Some(true), Some(200))
    );
    assert_eq!(o["login_status"], "Success");
    let thief_rt = o["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(thief_rt, rt);
    let row = sim.login_history().pop().unwrap();
    assert_eq!(
        (row.source_ip.as_str(), row.status.as_str()),
        ("198.51.100.7", "Success")
    );
    let (s, body) = refresh(&sim, rt).await;
    assert_eq!((s, err(&body).1), (400, "expired access/refresh token"));
    let g = sim.grants().pop().unwrap();
    assert_eq!(g.revoked_reason, Some(RevokeReason::Reuse));
    let reuse = g.reuse.unwrap();
    assert_eq!(reuse.generations_behind, 1);
    assert!(reuse.latest_rotation_by_thief && !reuse.latest_rotation_dropped);
    assert_eq!(g.stolen_refreshes, 1);
    assert_eq!(
        refresh(&sim, &thief_rt).await.0,
        400,
        "the whole grant is gone"
    );
    let st = sim.stats();
    assert_eq!(
        (st.steal_ok, st.refresh_ok),
        (1, 0),
        "a theft is not counted as a refresh"
    );
}

#[tokio::test]
async fn stealing_needs_a_live_grant_with_a_refresh_token() {
    let sim = sim_with(|_| {}).await;
    let (s, b) = control(
        &sim,
        Method::POST,
        "/_sim/steal",
        Some(json!({ "username": "admin@acme.example" })),
    )
    .await;
    assert_eq!(s, 409, "{b}");
    let (s, _) = control(
        &sim,
        Method::POST,
        "/_sim/steal",
        Some(json!({ "username": "nobody@acme.example" })),
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = control(&sim, Method::POST, "/_sim/steal", Some(json!({}))).await;
    assert_eq!(s, 400);
    // The newest grant of the user is the one taken.
    let (verifier, challenge) = pkce();
    for _ in 0..2 {
        let q = authorize(&sim, &[("code_challenge", &challenge)]).await;
        let (s, _) = crate::token(
            &sim,
            &[
                ("grant_type", "authorization_code"),
                ("code", &q["code"]),
                ("client_id", "reauth-eca"),
                ("client_secret", "reauth-eca-secret"),
                ("redirect_uri", CALLBACK),
                ("code_verifier", &verifier),
            ],
        )
        .await;
        assert_eq!(s, 200);
    }
    let newest = sim.grants().iter().map(|g| g.id).max().unwrap();
    let o = sim
        .steal(&Steal {
            username: Some("admin@acme.example".into()),
            ..Steal::default()
        })
        .unwrap();
    assert_eq!(o.grant_id, newest);
}
