//! Grant introspection (`/_sim/grants`), mass revocation, and the IP echo.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use sfsim::{MassRevoke, RevokeReason};

use crate::{client, connect, control, refresh, sim_with};

#[tokio::test]
async fn grants_list_rotations_and_why_each_grant_was_revoked() {
    let sim = sim_with(|c| {
        c.clients[0].refresh_policy = sfsim::RefreshPolicy::Idle(Duration::from_secs(10 * 86_400));
    })
    .await;
    let mut rt = connect(&sim).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..2 {
        rt = refresh(&sim, &rt).await.1["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned();
    }
    connect(&sim).await; // a second grant of the same user
    sim.revoke_user_grants("admin@acme.example");
    let revoked_by_endpoint = sim
        .mint_grant(
            "reauth-legacy",
            "admin@acme.example",
            &["api", "refresh_token"],
        )
        .unwrap();
    client()
        .post(format!("{}/services/oauth2/revoke", sim.base_url()))
        .form(&[("token", revoked_by_endpoint.access_token.as_str())])
        .send()
        .await
        .unwrap();
    client()
        .post(format!("{}/services/oauth2/revoke", sim.base_url()))
        .form(&[("token", revoked_by_endpoint.refresh_token.unwrap().as_str())])
        .send()
        .await
        .unwrap();
    let idle = connect(&sim).await;
    sim.advance_clock(Duration::from_secs(11 * 86_400));
    assert_eq!(
        refresh(&sim, idle["refresh_token"].as_str().unwrap())
            .await
            .0,
        400
    );
    let (s, list) = control(&sim, Method::GET, "/_sim/grants", None).await;
    assert_eq!(s, 200);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 4);
    let first = &list[0];
    assert_eq!(
        (
            first["id"].as_u64(),
            first["rotations"].as_u64(),
            first["client_id"].as_str()
        ),
        (Some(1), Some(2), Some("reauth-eca"))
    );
    assert_eq!(first["org_id"], "00D000000000001EAA");
    assert_eq!(first["user_id"], "005000000000001AAA");
    assert!(first["created"].is_string());
    let reasons: Vec<&str> = list
        .iter()
        .map(|g| g["revoked_reason"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(reasons, ["user", "user", "revoke_endpoint", "expired"]);
    assert!(
        list.iter()
            .all(|g| g["revoked"] == true && g["revoked_at"].is_string())
    );
    let st = sim.stats();
    assert_eq!(st.revoked_by_reason["user"], 2);
    let (_, only) = control(
        &sim,
        Method::GET,
        "/_sim/grants?client_id=reauth-legacy",
        None,
    )
    .await;
    assert_eq!(only.as_array().unwrap().len(), 1);
    let (_, live) = control(&sim, Method::GET, "/_sim/grants?live=true", None).await;
    assert_eq!(live.as_array().unwrap().len(), 0, "all four are revoked");
    let (_, theirs) = control(
        &sim,
        Method::GET,
        "/_sim/grants?live=false&username=admin@acme.example&org_id=00D000000000001",
        None,
    )
    .await;
    assert_eq!(theirs.as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn a_reuse_records_how_many_generations_behind_the_presented_token_was() {
    let sim = sim_with(|_| {}).await;
    let mut rts = vec![
        connect(&sim).await["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned(),
    ];
    for _ in 0..3 {
        let next = refresh(&sim, rts.last().unwrap()).await.1["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned();
        rts.push(next);
    }
    assert_eq!(refresh(&sim, &rts[1]).await.0, 400);
    let g = sim.grants().pop().unwrap();
    assert_eq!(g.rotations, 3);
    let reuse = g.reuse.unwrap();
    assert_eq!(reuse.generations_behind, 2);
    assert!(!reuse.latest_rotation_dropped);
    // Later presentations of dead tokens do not overwrite what the revocation saw.
    assert_eq!(refresh(&sim, &rts[2]).await.0, 400);
    assert_eq!(
        sim.grants()
            .pop()
            .unwrap()
            .reuse
            .unwrap()
            .generations_behind,
        2
    );
}

#[tokio::test]
async fn a_dropped_rotation_answer_is_recorded_on_its_grant() {
    let sim = sim_with(|_| {}).await;
    let rt = connect(&sim).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    sim.set_faults(sfsim::Faults {
        drop_after_rotate_rate: 1.0,
        ..Default::default()
    });
    let short = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let lost = short
        .post(format!("{}/services/oauth2/token", sim.base_url()))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt.as_str()),
            ("client_id", "reauth-eca"),
            ("client_secret", "reauth-eca-secret"),
        ])
        .send()
        .await;
    assert!(lost.is_err());
    sim.set_faults(sfsim::Faults::default());
    assert_eq!(sim.grants()[0].dropped_answers, 1);
    assert_eq!(refresh(&sim, &rt).await.0, 400);
    let (_, list) = control(&sim, Method::GET, "/_sim/grants", None).await;
    let g = &list[0];
    assert_eq!(g["revoked_reason"], "reuse");
    assert_eq!(g["reuse"]["generations_behind"], 1);
    assert_eq!(g["reuse"]["latest_rotation_dropped"], true);
    assert_eq!(g["dropped_answers"], 1);
}

#[tokio::test]
async fn mass_revocation_revokes_a_share_or_a_count_of_live_grants() {
    let sim = sim_with(|_| {}).await;
    for user in ["admin@acme.example", "user@acme.example"] {
        for client in ["reauth-eca", "reauth-legacy"] {
            for _ in 0..2 {
                sim.mint_grant(client, user, &["api", "refresh_token"])
                    .unwrap();
            }
        }
    }
    sim.mint_grant(
        "reauth-legacy",
        "admin@acme.example.uat",
        &["api", "refresh_token"],
    )
    .unwrap();
    sim.mint_grant(
        "reauth-legacy",
        "admin@acme.example.uat",
        &["api", "refresh_token"],
    )
    .unwrap();
    assert_eq!(sim.stats().live_grants, 10);
    let (s, b) = control(
        &sim,
        Method::POST,
        "/_sim/grants/revoke",
        Some(json!({ "share": 0.3 })),
    )
    .await;
    assert_eq!((s, b["revoked"].as_u64()), (200, Some(3)));
    let legacy_live = |sim: &sfsim::Sim| {
        sim.grants()
            .iter()
            .filter(|g| g.client_id == "reauth-legacy" && !g.revoked)
            .count()
    };
    let before = legacy_live(&sim);
    let n = sim
        .mass_revoke(&MassRevoke {
            count: Some(2),
            client_id: Some("reauth-legacy".into()),
            ..MassRevoke::default()
        })
        .unwrap();
    assert_eq!((n, legacy_live(&sim)), (2, before - 2));
    let st = sim.stats();
    assert_eq!((st.live_grants, st.revoked_by_reason["admin"]), (5, 5));
    assert!(
        sim.grants()
            .iter()
            .filter(|g| g.revoked)
            .all(|g| g.revoked_reason == Some(RevokeReason::Admin))
    );
    for bad in [
        json!({ "share": 1.5 }),
        json!({}),
        json!({ "share": 0.1, "count": 1 }),
    ] {
        let (s, _) = control(&sim, Method::POST, "/_sim/grants/revoke", Some(bad)).await;
        assert_eq!(s, 400);
    }
    assert_eq!(sim.revoke_share(1.0).unwrap(), 5);
}

#[tokio::test]
async fn the_ip_echo_shows_the_address_sfsim_sees() {
    let ip = |sim: &sfsim::Sim| {
        let url = format!("{}/_sim/ip", sim.base_url());
        async move {
            let r = client()
                .get(url)
                .header("x-forwarded-for", "203.0.113.77")
                .send()
                .await
                .unwrap();
            r.json::<Value>().await.unwrap()["ip"].clone()
        }
    };
    let plain = sim_with(|_| {}).await;
    assert_eq!(ip(&plain).await, "127.0.0.1");
    let trusting = sim_with(|c| c.settings.trust_forwarded_for = true).await;
    assert_eq!(ip(&trusting).await, "203.0.113.77");
}
