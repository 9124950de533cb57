//! OpenID Connect: the OIDC-strict `nonce` rule and the RS256 `id_token`.

use base64::Engine as _;
use serde_json::Value;
use sfsim::Sim;

use crate::{CALLBACK, client, jwt_payload, pkce, refresh, sim_with, token};

/// Authorize (auto-approve) with these scopes and an optional nonce; the redirect's query.
async fn authorize_with(
    sim: &Sim,
    scope: &str,
    nonce: Option<&str>,
    challenge: &str,
) -> std::collections::HashMap<String, String> {
    let mut u = url::Url::parse(&format!("{}/services/oauth2/authorize", sim.base_url())).unwrap();
    u.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "reauth-eca")
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("scope", scope)
        .append_pair("state", "s1")
        .append_pair("code_challenge", challenge)
        .append_pair("login_hint", "admin@acme.example");
    if let Some(n) = nonce {
        u.query_pairs_mut().append_pair("nonce", n);
    }
    let r = client().get(u).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let loc = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    loc.query_pairs().into_owned().collect()
}

async fn exchange(sim: &Sim, code: &str, verifier: &str) -> Value {
    let (s, b) = token(
        sim,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("client_id", "reauth-eca"),
            ("client_secret", "reauth-eca-secret"),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier),
        ],
    )
    .await;
    assert_eq!(s, 200, "{b}");
    b
}

/// Checks an RS256 JWT against the key set at `/id/keys`.
async fn verify_with_id_keys(sim: &Sim, jwt: &str) -> bool {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header: Value =
        serde_json::from_slice(&b64.decode(jwt.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["alg"], "RS256");
    let jwks: Value = client()
        .get(format!("{}/id/keys", sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .unwrap();
    let n = b64.decode(key["n"].as_str().unwrap()).unwrap();
    let e = b64.decode(key["e"].as_str().unwrap()).unwrap();
    let (input, sig) = jwt.rsplit_once('.').unwrap();
    ring::signature::RsaPublicKeyComponents { n, e }
        .verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            input.as_bytes(),
            &b64.decode(sig).unwrap(),
        )
        .is_ok()
}

#[tokio::test]
async fn oidc_strict_refuses_nonce_without_openid_like_node_oidc_provider() {
    let sim = sim_with(|c| c.settings.oidc_strict = true).await;
    let (_, challenge) = pkce();
    let q = authorize_with(&sim, "api refresh_token", Some("n-1"), &challenge).await;
    assert_eq!(q["error"], "invalid_request");
    assert_eq!(
        q["error_description"],
        "openid scope must be requested when using the nonce parameter"
    );
    assert_eq!(q["state"], "s1");
    assert!(!q.contains_key("code"));
    // With openid among the scopes the same request is fine.
    let q = authorize_with(&sim, "openid api refresh_token", Some("n-1"), &challenge).await;
    assert!(q.contains_key("code"), "{q:?}");
}

#[tokio::test]
async fn by_default_a_nonce_without_openid_is_ignored_as_salesforce_does() {
    let sim = sim_with(|_| {}).await;
    let (verifier, challenge) = pkce();
    let q = authorize_with(&sim, "api refresh_token", Some("n-1"), &challenge).await;
    let b = exchange(&sim, &q["code"], &verifier).await;
    assert!(b.get("id_token").is_none(), "no openid, no id_token");
}

#[tokio::test]
async fn openid_code_exchange_answers_an_rs256_id_token_carrying_the_nonce() {
    let sim = sim_with(|c| c.settings.oidc_strict = true).await;
    let (verifier, challenge) = pkce();
    let q = authorize_with(&sim, "openid api refresh_token", Some("n-42"), &challenge).await;
    let b = exchange(&sim, &q["code"], &verifier).await;
    let jwt = b["id_token"].as_str().unwrap();
    let claims = jwt_payload(jwt);
    assert_eq!(claims["iss"], sim.base_url());
    assert_eq!(claims["sub"], b["id"]);
    assert_eq!(claims["aud"], "reauth-eca");
    assert_eq!(claims["nonce"], "n-42");
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert!(exp > iat && iat > 1_600_000_000);
    assert!(verify_with_id_keys(&sim, jwt).await, "signed by /id/keys");
    // A tampered payload no longer verifies.
    let mut parts: Vec<&str> = jwt.split('.').collect();
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(claims.to_string().replace("n-42", "n-43"));
    parts[1] = &forged;
    assert!(!verify_with_id_keys(&sim, &parts.join(".")).await);
}

#[tokio::test]
async fn refresh_of_an_openid_grant_carries_an_id_token_without_nonce() {
    let sim = sim_with(|_| {}).await;
    let (verifier, challenge) = pkce();
    let q = authorize_with(&sim, "openid api refresh_token", Some("n-7"), &challenge).await;
    let b = exchange(&sim, &q["code"], &verifier).await;
    let (s, r) = refresh(&sim, b["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, 200);
    let claims = jwt_payload(r["id_token"].as_str().unwrap());
    assert_eq!(claims["aud"], "reauth-eca");
    assert!(claims.get("nonce").is_none());
    let off = sim_with(|c| c.settings.id_token_on_refresh = false).await;
    let q = authorize_with(&off, "openid api refresh_token", None, &challenge).await;
    let b = exchange(&off, &q["code"], &verifier).await;
    assert!(b.get("id_token").is_some());
    let (_, r) = refresh(&off, b["refresh_token"].as_str().unwrap()).await;
    assert!(r.get("id_token").is_none());
}
