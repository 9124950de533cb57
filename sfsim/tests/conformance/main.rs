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

mod code;
mod grants;
mod legacy;
mod login_history;
mod more;
mod oidc;
mod policies;
mod queries;
mod refresh;
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
