//! Policies and limits: token lifetime, revoke without a token, the approval cap, OauthToken use
//! counts, session timeout, injected faults, the control API, the standalone binary, login errors.

use std::time::Duration;

use serde_json::Value;
use sfsim::{AppInstall, Config};

use crate::{CALLBACK, authorize, client, connect, err, pkce, refresh, sim_with, token};

#[tokio::test]
async fn lifetime_policy_expires_whatever_the_use() {
    let sim = sim_with(|c| {
        c.clients[0].refresh_policy =
            sfsim::RefreshPolicy::Lifetime(Duration::from_secs(10 * 86_400))
    })
    .await;
    let mut rt = connect(&sim).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..3 {
        sim.advance_clock(Duration::from_secs(3 * 86_400));
        rt = refresh(&sim, &rt).await.1["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned();
    }
    sim.advance_clock(Duration::from_secs(2 * 86_400));
    let (s, b) = refresh(&sim, &rt).await;
    assert_eq!((s, err(&b).1), (400, "expired access/refresh token"));
}

#[tokio::test]
async fn revoke_without_a_token_is_unsupported_token_type() {
    let sim = sim_with(|_| {}).await;
    let r = client()
        .post(format!("{}/services/oauth2/revoke", sim.base_url()))
        .form(&[("nothing", "here")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let b: Value = r.json().await.unwrap();
    assert_eq!(
        err(&b),
        ("unsupported_token_type", "Token type not supported")
    );
}

#[tokio::test]
async fn a_sixth_approval_revokes_the_oldest() {
    let sim = sim_with(|_| {}).await;
    let first = connect(&sim).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..5 {
        connect(&sim).await;
    }
    assert_eq!(sim.stats().live_grants, 5);
    let (s, _) = refresh(&sim, &first).await;
    assert_eq!(s, 400, "the oldest approval was revoked");
}

#[tokio::test]
async fn oauth_token_query_reports_use_count() {
    let sim = sim_with(|_| {}).await;
    let b = connect(&sim).await;
    let rt1 = refresh(&sim, b["refresh_token"].as_str().unwrap()).await.1;
    let r = client()
        .get(format!("{}/services/data/v66.0/query", sim.base_url()))
        .query(&[(
            "q",
            "SELECT AppName, UseCount, LastUsedDate FROM OauthToken",
        )])
        .bearer_auth(rt1["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["totalSize"], 1);
    assert_eq!(body["records"][0]["UseCount"], 2);
    // AppName is the app's label, not its client id.
    assert_eq!(body["records"][0]["AppName"], "Reauth");
}

#[tokio::test]
async fn access_tokens_die_after_the_session_timeout() {
    let sim = sim_with(|_| {}).await;
    let b = connect(&sim).await;
    let limits = format!("{}/services/data/v66.0/limits", sim.base_url());
    let at = b["access_token"].as_str().unwrap();
    assert_eq!(
        client()
            .get(&limits)
            .bearer_auth(at)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    sim.advance_clock(Duration::from_secs(2 * 3600 + 1));
    let r = client().get(&limits).bearer_auth(at).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap()[0]["errorCode"],
        "INVALID_SESSION_ID"
    );
}

#[tokio::test]
async fn injected_503s_and_hangs_do_nothing_at_the_simulator() {
    let sim = sim_with(|_| {}).await;
    let rt = connect(&sim).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    sim.set_faults(sfsim::Faults {
        error_rate: 1.0,
        ..Default::default()
    });
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt.as_str()),
        ("client_id", "reauth-eca"),
        ("client_secret", "reauth-eca-secret"),
    ];
    let r = client()
        .post(format!("{}/services/oauth2/token", sim.base_url()))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    sim.set_faults(sfsim::Faults {
        hang_rate: 1.0,
        ..Default::default()
    });
    let short = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let hung = short
        .post(format!("{}/services/oauth2/token", sim.base_url()))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt.as_str()),
            ("client_id", "reauth-eca"),
            ("client_secret", "reauth-eca-secret"),
        ])
        .send()
        .await;
    assert!(hung.is_err());
    sim.set_faults(sfsim::Faults::default());
    assert_eq!(
        refresh(&sim, &rt).await.0,
        200,
        "neither fault consumed the token"
    );
    assert_eq!(sim.stats().reuse_detected, 0);
}

#[tokio::test]
async fn control_api_drives_clock_faults_users_and_apps() {
    let sim = sim_with(|_| {}).await;
    let rt = connect(&sim).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let c = client();
    let base = sim.base_url();
    let r = c
        .post(format!(
            "{base}/_sim/users/admin@acme.example/revoke-grants"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["revoked_grants"], 1);
    assert_eq!(refresh(&sim, &rt).await.0, 400);
    assert_eq!(
        c.post(format!("{base}/_sim/clock/advance"))
            .json(&serde_json::json!({ "by": "5d" }))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        c.post(format!("{base}/_sim/clock/advance"))
            .json(&serde_json::json!({ "by": "soon" }))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        c.put(format!("{base}/_sim/faults"))
            .json(&serde_json::json!({ "error_rate": 2.0 }))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        c.post(format!("{base}/_sim/users/admin@acme.example/freeze"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        c.post(format!("{base}/_sim/users/nobody/freeze"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        c.put(format!(
            "{base}/_sim/orgs/00D000000000001EAA/apps/reauth-eca"
        ))
        .json(&serde_json::json!({ "state": "blocked" }))
        .send()
        .await
        .unwrap()
        .status(),
        204
    );
    let cfg = Config::from_toml_str(
        &c.get(format!("{base}/_sim/config"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(cfg.orgs[0].users[0].frozen);
    assert_eq!(cfg.orgs[0].apps["reauth-eca"], AppInstall::Blocked);
}

#[tokio::test]
async fn standalone_binary_serves_with_and_without_a_config_file() {
    for with_file in [false, true] {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sfsim"));
        cmd.args(["--bind", &format!("127.0.0.1:{port}")])
            .stderr(std::process::Stdio::null());
        let dir = tempfile_dir();
        if with_file {
            let file = dir.join("sim.toml");
            std::fs::write(&file, Config::default_dataset().to_toml()).unwrap();
            cmd.arg("--config").arg(&file);
        }
        let mut child = cmd.spawn().unwrap();
        let mut ok = false;
        for _ in 0..50 {
            if let Ok(r) = client()
                .get(format!(
                    "http://127.0.0.1:{port}/.well-known/openid-configuration"
                ))
                .send()
                .await
            {
                ok = r.status() == 200;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        child.kill().ok();
        child.wait().ok();
        assert!(
            ok,
            "standalone sfsim (config file: {with_file}) did not serve"
        );
    }
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "sfsim-standalone-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

#[tokio::test]
async fn wrong_password_is_authentication_failure() {
    let sim = sim_with(|_| {}).await;
    let form = |pw: &'static str| {
        [
            ("grant_type", "password"),
            ("client_id", "reauth-eca"),
            ("client_secret", "reauth-eca-secret"),
            ("username", "admin@acme.example"),
            ("password", pw),
        ]
    };
    let (s, b) = token(&sim, &form("nope")).await;
    assert_eq!(
        (s, err(&b)),
        (400, ("invalid_grant", "authentication failure"))
    );
    let (s, b) = token(&sim, &form("password")).await;
    assert_eq!(s, 200);
    assert!(
        b.get("refresh_token").is_none(),
        "the password flow issues no refresh token"
    );
}

#[tokio::test]
async fn users_not_preauthorized_have_not_approved_this_consumer() {
    let sim = sim_with(|_| {}).await;
    let rt = connect(&sim).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let sim2 = sim_with(|c| {
        c.clients[0].preauthorized_users = Some(vec!["someone.else@acme.example".into()])
    })
    .await;
    let (verifier, challenge) = pkce();
    let q = authorize(&sim2, &[("code_challenge", &challenge)]).await;
    let (s, b) = token(
        &sim2,
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
    assert_eq!(
        (s, err(&b)),
        (400, ("invalid_grant", "user hasn't approved this consumer"))
    );
    assert_eq!(
        refresh(&sim, &rt).await.0,
        200,
        "without the policy the same user is fine"
    );
}
