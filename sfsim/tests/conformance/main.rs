//! sfsim's conformance suite: each test names one behaviour of Salesforce (its token errors and
//! OAuth flows, see `docs/salesforce.md`) and drives the real server over a socket.

#![expect(
    clippy::unwrap_used,
    reason = "test and benchmark code: a failed unwrap stops the run with its location"
)]

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;
use sfsim::{Config, Sim};

mod grants;
mod legacy;
mod login_history;
mod more;
mod oidc;
mod queries;
mod secrets;
mod steal;
use sha2::Digest as _;

pub(crate) const CALLBACK: &str = "http://127.0.0.1:9/oauth/callback";

pub(crate) fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

pub(crate) async fn sim_with(f: impl FnOnce(&mut Config)) -> Sim {
    let mut c = Config::default_dataset().with_redirect_uri(CALLBACK);
    c.settings.auto_approve = true;
    f(&mut c);
    Sim::start(c, "127.0.0.1:0".parse().unwrap()).await.unwrap()
}

pub(crate) fn pkce() -> (String, String) {
    let verifier = "v".repeat(20) + "-_abcDEF0123456789abcdefghij";
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// Runs authorize with auto-approve and returns the redirect's query.
pub(crate) async fn authorize(sim: &Sim, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut u = url::Url::parse(&format!("{}/services/oauth2/authorize", sim.base_url())).unwrap();
    u.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "reauth-eca")
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("scope", "api refresh_token")
        .append_pair("state", "s1")
        .append_pair("login_hint", "admin@acme.example");
    for (k, v) in extra {
        u.query_pairs_mut().append_pair(k, v);
    }
    let r = client().get(u).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let loc = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    loc.query_pairs().into_owned().collect()
}

pub(crate) async fn token(sim: &Sim, form: &[(&str, &str)]) -> (u16, Value) {
    let r = client()
        .post(format!("{}/services/oauth2/token", sim.base_url()))
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// A full code exchange; returns the token answer.
pub(crate) async fn connect(sim: &Sim) -> Value {
    let (verifier, challenge) = pkce();
    let q = authorize(sim, &[("code_challenge", &challenge)]).await;
    let (s, body) = token(
        sim,
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
    assert_eq!(s, 200, "{body}");
    body
}

pub(crate) async fn refresh(sim: &Sim, rt: &str) -> (u16, Value) {
    token(
        sim,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", "reauth-eca"),
            ("client_secret", "reauth-eca-secret"),
        ],
    )
    .await
}

/// `GET /services/data/v66.0/{path}?q=…` with a bearer token; returns the status and JSON body.
pub(crate) async fn soql(sim: &Sim, path: &str, at: &str, q: &str) -> (u16, Value) {
    let r = client()
        .get(format!("{}/services/data/v66.0/{path}", sim.base_url()))
        .query(&[("q", q)])
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// A JSON call to the control API.
pub(crate) async fn control(
    sim: &Sim,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = client().request(method, format!("{}{path}", sim.base_url()));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The payload of a JWT, decoded without checking its signature.
pub(crate) fn jwt_payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

/// base64(HMAC-SHA256(key, id + issued_at)) of a token answer.
pub(crate) fn expected_signature(key: &str, body: &Value) -> String {
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(
        format!(
            "{}{}",
            body["id"].as_str().unwrap(),
            body["issued_at"].as_str().unwrap()
        )
        .as_bytes(),
    );
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

pub(crate) fn err(body: &Value) -> (&str, &str) {
    (
        body["error"].as_str().unwrap_or_default(),
        body["error_description"].as_str().unwrap_or_default(),
    )
}

#[tokio::test]
async fn code_exchange_answers_in_salesforce_shape_without_expires_in() {
    let sim = sim_with(|_| {}).await;
    let b = connect(&sim).await;
    assert!(
        b["access_token"]
            .as_str()
            .unwrap()
            .starts_with("00D000000000001!")
    );
    assert!(b["refresh_token"].as_str().unwrap().starts_with("5Aep861"));
    assert_eq!(b["token_type"], "Bearer");
    assert_eq!(b["instance_url"], sim.base_url());
    assert_eq!(
        b["id"],
        format!(
            "{}/id/00D000000000001EAA/005000000000001AAA",
            sim.base_url()
        )
    );
    assert!(b["issued_at"].as_str().unwrap().parse::<i64>().unwrap() > 1_600_000_000_000);
    assert!(b.get("expires_in").is_none());
    // signature = base64(HMAC-SHA256(secret, id + issued_at))
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"reauth-eca-secret").unwrap();
    mac.update(
        format!(
            "{}{}",
            b["id"].as_str().unwrap(),
            b["issued_at"].as_str().unwrap()
        )
        .as_bytes(),
    );
    assert_eq!(
        b["signature"],
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
}

#[tokio::test]
async fn authorization_codes_work_once() {
    let sim = sim_with(|_| {}).await;
    let (verifier, challenge) = pkce();
    let q = authorize(&sim, &[("code_challenge", &challenge)]).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", q["code"].as_str()),
        ("client_id", "reauth-eca"),
        ("client_secret", "reauth-eca-secret"),
        ("redirect_uri", CALLBACK),
        ("code_verifier", verifier.as_str()),
    ];
    assert_eq!(token(&sim, &form).await.0, 200);
    let (s, b) = token(&sim, &form).await;
    assert_eq!((s, err(&b).0), (400, "invalid_grant"));
}

#[tokio::test]
async fn wrong_or_tilde_verifier_is_invalid_code_verifier() {
    let sim = sim_with(|_| {}).await;
    for bad in ["x".repeat(43), format!("{}~", "a".repeat(42))] {
        let (_, challenge) = pkce();
        let q = authorize(&sim, &[("code_challenge", &challenge)]).await;
        let (s, b) = token(
            &sim,
            &[
                ("grant_type", "authorization_code"),
                ("code", &q["code"]),
                ("client_id", "reauth-eca"),
                ("client_secret", "reauth-eca-secret"),
                ("redirect_uri", CALLBACK),
                ("code_verifier", &bad),
            ],
        )
        .await;
        assert_eq!(
            (s, err(&b)),
            (400, ("invalid_grant", "invalid code verifier"))
        );
    }
}

#[tokio::test]
async fn verifier_without_challenge_is_unexpected() {
    let sim = sim_with(|c| c.clients[0].pkce_required = false).await;
    let q = authorize(&sim, &[]).await;
    let (s, b) = token(
        &sim,
        &[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("client_id", "reauth-eca"),
            ("client_secret", "reauth-eca-secret"),
            ("redirect_uri", CALLBACK),
            ("code_verifier", "abc"),
        ],
    )
    .await;
    assert_eq!(
        (s, err(&b)),
        (400, ("invalid_grant", "unexpected code verifier"))
    );
}

#[tokio::test]
async fn pkce_required_without_challenge_is_an_error_redirect() {
    let sim = sim_with(|_| {}).await;
    let q = authorize(&sim, &[]).await;
    assert_eq!(q["error"], "invalid_request");
    assert_eq!(q["state"], "s1");
}

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
