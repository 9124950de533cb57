//! The authorization code grant: Salesforce's answer shape, single use, PKCE checks.

use crate::*;

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
