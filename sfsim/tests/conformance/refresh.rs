//! The refresh grant: rotation, reuse revocation, concurrency, idle expiry, the IP allowlist,
//! refusals, revocation, LoginHistory and dropped answers; the simulator's config round trip.

use crate::*;

#[tokio::test]
async fn rotation_issues_a_new_refresh_token_each_time() {
    let sim = sim_with(|_| {}).await;
    let rt0 = connect(&sim).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, b1) = refresh(&sim, &rt0).await;
    assert_eq!(s, 200);
    let rt1 = b1["refresh_token"].as_str().unwrap().to_owned();
    let (s, b2) = refresh(&sim, &rt1).await;
    assert_eq!(s, 200);
    assert_ne!(b2["refresh_token"], b1["refresh_token"]);
    assert_eq!(sim.stats().refresh_ok, 2);
}

#[tokio::test]
async fn reused_rotated_token_revokes_the_grant() {
    let sim = sim_with(|_| {}).await;
    let rt0 = connect(&sim).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let rt1 = refresh(&sim, &rt0).await.1["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, b) = refresh(&sim, &rt0).await;
    assert_eq!(
        (s, err(&b)),
        (400, ("invalid_grant", "expired access/refresh token"))
    );
    // The current token died with it.
    let (s, b) = refresh(&sim, &rt1).await;
    assert_eq!((s, err(&b).1), (400, "expired access/refresh token"));
    let st = sim.stats();
    assert_eq!((st.reuse_detected, st.live_grants), (1, 0));
}

#[tokio::test]
async fn without_rotation_the_answer_carries_no_refresh_token() {
    let sim = sim_with(|c| c.clients[0].rotation = false).await;
    let rt = connect(&sim).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, b) = refresh(&sim, &rt).await;
    assert_eq!(s, 200);
    assert!(b.get("refresh_token").is_none());
    assert_eq!(
        refresh(&sim, &rt).await.0,
        200,
        "the same token keeps working"
    );
}

#[tokio::test]
async fn concurrent_refresh_is_already_being_processed() {
    let sim = sim_with(|c| c.faults.latency = Some(Duration::from_millis(300))).await;
    let rt = connect(&sim).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (a, b) = tokio::join!(refresh(&sim, &rt), refresh(&sim, &rt));
    let mut outcomes = [a, b].map(|(s, body)| (s, err(&body).1.to_owned()));
    outcomes.sort();
    assert_eq!(outcomes[0].0, 200);
    assert_eq!(
        outcomes[1],
        (400, "token request is already being processed".to_owned())
    );
    assert_eq!(sim.stats().concurrent_rejected, 1);
}

#[tokio::test]
async fn idle_refresh_token_expires_and_exchange_resets_the_clock() {
    let sim = sim_with(|c| {
        c.clients[0].refresh_policy = sfsim::RefreshPolicy::Idle(Duration::from_secs(30 * 86_400))
    })
    .await;
    let rt = connect(&sim).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    sim.advance_clock(Duration::from_secs(25 * 86_400));
    let rt = refresh(&sim, &rt).await.1["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    sim.advance_clock(Duration::from_secs(25 * 86_400));
    let (s, b) = refresh(&sim, &rt).await;
    assert_eq!(s, 200, "25 + 25 days with an exchange between is fine: {b}");
    let rt = b["refresh_token"].as_str().unwrap().to_owned();
    sim.advance_clock(Duration::from_secs(31 * 86_400));
    let (s, b) = refresh(&sim, &rt).await;
    assert_eq!((s, err(&b).1), (400, "expired access/refresh token"));
}

#[tokio::test]
async fn refresh_from_outside_the_ip_allowlist_is_ip_restricted() {
    let sim = sim_with(|c| {
        c.clients[0].ip_allowlist = vec!["203.0.113.0/28".parse().unwrap()];
        c.settings.trust_forwarded_for = true;
    })
    .await;
    // The code exchange is also covered by the allowlist: come from inside it.
    let (verifier, challenge) = pkce();
    let q = authorize(&sim, &[("code_challenge", &challenge)]).await;
    let r = client()
        .post(format!("{}/services/oauth2/token", sim.base_url()))
        .header("x-forwarded-for", "203.0.113.5")
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", q["code"].as_str()),
            ("client_id", "reauth-eca"),
            ("client_secret", "reauth-eca-secret"),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let rt = r.json::<Value>().await.unwrap()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, b) = refresh(&sim, &rt).await; // from 127.0.0.1
    assert_eq!((s, err(&b)), (400, ("invalid_grant", "ip restricted")));
}

#[tokio::test]
async fn frozen_user_is_inactive_user() {
    let sim = sim_with(|_| {}).await;
    let rt = connect(&sim).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(sim.set_frozen("admin@acme.example", true));
    let (s, b) = refresh(&sim, &rt).await;
    assert_eq!((s, err(&b)), (400, ("invalid_grant", "inactive user")));
}

#[tokio::test]
async fn bad_secret_and_unknown_client_are_refused() {
    let sim = sim_with(|_| {}).await;
    let (s, b) = token(
        &sim,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", "reauth-eca"),
            ("client_secret", "nope"),
        ],
    )
    .await;
    assert_eq!(
        (s, err(&b)),
        (400, ("invalid_client", "invalid client credentials"))
    );
    let (s, b) = token(
        &sim,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", "nobody"),
        ],
    )
    .await;
    assert_eq!(
        (s, err(&b)),
        (400, ("invalid_client_id", "client identifier invalid"))
    );
    let (s, b) = token(
        &sim,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "reauth-eca"),
        ],
    )
    .await;
    assert_eq!(
        (s, err(&b)),
        (400, ("unsupported_grant_type", "grant type not supported"))
    );
}

#[tokio::test]
async fn revoking_a_refresh_token_kills_its_access_tokens() {
    let sim = sim_with(|_| {}).await;
    let b = connect(&sim).await;
    let at = b["access_token"].as_str().unwrap();
    let id = b["id"].as_str().unwrap();
    assert_eq!(
        client()
            .get(id)
            .bearer_auth(at)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = client()
        .post(format!("{}/services/oauth2/revoke", sim.base_url()))
        .form(&[("token", b["refresh_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client().get(id).bearer_auth(at).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body[0]["errorCode"], "INVALID_SESSION_ID");
    let r = client()
        .post(format!("{}/services/oauth2/revoke", sim.base_url()))
        .form(&[("token", "garbage")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_token");
}

#[tokio::test]
async fn every_exchange_writes_login_history() {
    let sim = sim_with(|_| {}).await;
    let b = connect(&sim).await;
    refresh(&sim, b["refresh_token"].as_str().unwrap()).await;
    let at = refresh(&sim, b["refresh_token"].as_str().unwrap()).await; // reuse: refused
    assert_eq!(at.0, 400);
    let r = client()
        .get(format!("{}/services/data/v66.0/query", sim.base_url()))
        .query(&[(
            "q",
            "SELECT UserId, LoginSubType, SourceIp, Status, LoginType FROM LoginHistory",
        )])
        .bearer_auth(connect(&sim).await["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    let subs: Vec<&str> = body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["LoginSubType"].as_str().unwrap())
        .collect();
    assert!(
        subs.contains(&"OauthWebServer") && subs.contains(&"OauthRefreshToken"),
        "{subs:?}"
    );
    assert_eq!(body["records"][0]["LoginType"], "Remote Access 2.0");
    assert_eq!(body["records"][0]["SourceIp"], "127.0.0.1");
}

#[tokio::test]
async fn dropped_answer_still_rotates() {
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
    assert!(lost.is_err(), "the client never sees the answer");
    sim.set_faults(sfsim::Faults::default());
    // The token did rotate: the old one is now a reuse, which kills the grant.
    let (s, _) = refresh(&sim, &rt).await;
    assert_eq!(s, 400);
    let st = sim.stats();
    assert_eq!((st.dropped_responses, st.reuse_detected), (1, 1));
}

#[test]
fn print_config_round_trips_and_bad_keys_are_named() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sfsim"))
        .args(["--print-config", "--auto-approve"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let cfg = Config::from_toml_str(&text).unwrap();
    assert!(cfg.settings.auto_approve);
    let dir = std::env::temp_dir().join(format!("sfsim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("sim.toml");
    std::fs::write(&file, &text).unwrap();
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_sfsim"))
        .args(["--print-config", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(again.stdout).unwrap(), text);
    std::fs::write(&file, "[settings]\nauto_aprove = true\n").unwrap();
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_sfsim"))
        .args(["--print-config", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("auto_aprove"));
}
