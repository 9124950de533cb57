//! The rest of the facts' error table and simulator checklist.

use std::time::Duration;

use sfsim::{AppInstall, Sim};

use crate::{CALLBACK, authorize, client, connect, err, pkce, refresh, sim_with, token};

async fn code_for(sim: &Sim, client_id: &str, challenge: Option<&str>) -> String {
    let mut u = url::Url::parse(&format!("{}/services/oauth2/authorize", sim.base_url())).unwrap();
    u.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("scope", "api refresh_token")
        .append_pair("login_hint", "admin@acme.example");
    if let Some(c) = challenge {
        u.query_pairs_mut().append_pair("code_challenge", c);
    }
    let r = client().get(u).send().await.unwrap();
    let loc = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    loc.query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

#[tokio::test]
async fn unknown_refresh_token_is_expired_access_refresh_token() {
    let sim = sim_with(|_| {}).await;
    let (s, b) = refresh(&sim, "5Aep861NotARealToken").await;
    assert_eq!(
        (s, err(&b)),
        (400, ("invalid_grant", "expired access/refresh token"))
    );
}

#[tokio::test]
async fn challenge_without_verifier_is_invalid_grant() {
    let sim = sim_with(|_| {}).await;
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
        ],
    )
    .await;
    assert_eq!((s, err(&b).0), (400, "invalid_grant"));
}

#[tokio::test]
async fn expired_authorization_code_is_refused() {
    let sim = sim_with(|_| {}).await;
    let (verifier, challenge) = pkce();
    let q = authorize(&sim, &[("code_challenge", &challenge)]).await;
    sim.advance_clock(Duration::from_secs(16 * 60));
    let (s, b) = token(
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
    assert_eq!(
        (s, err(&b)),
        (400, ("invalid_grant", "expired authorization code"))
    );
}

#[tokio::test]
async fn blocked_or_uninstalled_app_is_refused_at_refresh() {
    let sim = sim_with(|_| {}).await;
    let rt = connect(&sim).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    sim.set_app_state("00D000000000001EAA", "reauth-eca", AppInstall::Blocked);
    let (s, b) = refresh(&sim, &rt).await;
    assert_eq!(
        (s, err(&b)),
        (400, ("app_blocked", "this app is blocked by admin"))
    );
    sim.set_app_state("00D000000000001EAA", "reauth-eca", AppInstall::NotInstalled);
    let (s, b) = refresh(&sim, &rt).await;
    assert_eq!(
        (s, err(&b)),
        (
            400,
            (
                "app_not_found",
                "External client app is not installed in this org"
            )
        )
    );
    sim.set_app_state("00D000000000001EAA", "reauth-eca", AppInstall::Installed);
    assert_eq!(
        refresh(&sim, &rt).await.0,
        200,
        "refusals do not consume the token"
    );
}

#[tokio::test]
async fn blocked_app_at_authorize_redirects_oauth_app_blocked() {
    let sim = sim_with(|_| {}).await;
    sim.set_app_state("00D000000000001EAA", "reauth-eca", AppInstall::Blocked);
    let (_, challenge) = pkce();
    let q = authorize(&sim, &[("code_challenge", &challenge)]).await;
    assert_eq!(
        (q["error"].as_str(), q["error_description"].as_str()),
        ("OAUTH_APP_BLOCKED", "this app is blocked by admin")
    );
    sim.set_app_state("00D000000000001EAA", "reauth-eca", AppInstall::NotInstalled);
    let q = authorize(&sim, &[("code_challenge", &challenge)]).await;
    assert_eq!(q["error"], "OAUTH_EC_APP_NOT_FOUND");
}

#[tokio::test]
async fn locked_org_is_inactive_org() {
    let sim = sim_with(|_| {}).await;
    let rt = connect(&sim).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(sim.set_org_locked("00D000000000001EAA", true));
    let (s, b) = refresh(&sim, &rt).await;
    assert_eq!(
        (s, err(&b)),
        (400, ("inactive_org", "Org is locked, closed, or suspended"))
    );
}

#[tokio::test]
async fn login_rate_is_enforced_per_user_per_hour() {
    let sim = sim_with(|c| c.settings.login_rate_per_hour = 3).await;
    let mut rt = connect(&sim).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned(); // login 1
    for _ in 0..2 {
        rt = refresh(&sim, &rt).await.1["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned(); // logins 2, 3
    }
    let (s, b) = refresh(&sim, &rt).await;
    assert_eq!(
        (s, err(&b)),
        (400, ("invalid_grant", "login rate exceeded"))
    );
    sim.advance_clock(Duration::from_secs(3601));
    assert_eq!(
        refresh(&sim, &rt).await.0,
        200,
        "the rolling hour moved on; the refused token still works"
    );
}

#[tokio::test]
async fn redirect_uri_must_match_exactly_and_is_not_followed_when_wrong() {
    let sim = sim_with(|_| {}).await;
    for bad in [
        "http://127.0.0.1:9/oauth/callback/",
        "http://127.0.0.1:9/oauth/callback?x=1",
        "https://evil.example/cb",
    ] {
        let u = format!(
            "{}/services/oauth2/authorize?response_type=code&client_id=reauth-eca&redirect_uri={}",
            sim.base_url(),
            url::form_urlencoded::byte_serialize(bad.as_bytes()).collect::<String>()
        );
        let r = client().get(u).send().await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("redirect_uri must match configuration")
        );
    }
    let r = client()
        .get(format!(
            "{}/services/oauth2/authorize?response_type=code&client_id=nobody&redirect_uri=x",
            sim.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("client identifier invalid")
    );
}

#[tokio::test]
async fn plain_challenge_method_is_refused_in_strict_mode() {
    let sim = sim_with(|_| {}).await;
    let q = authorize(
        &sim,
        &[
            ("code_challenge", "abc"),
            ("code_challenge_method", "plain"),
        ],
    )
    .await;
    assert_eq!(q["error"], "invalid_request");
}

#[tokio::test]
async fn public_clients_use_pkce_alone_and_must_not_send_a_secret() {
    let sim = sim_with(|_| {}).await;
    let (verifier, challenge) = pkce();
    let code = code_for(&sim, "reauth-public", Some(&challenge)).await;
    let (s, b) = token(
        &sim,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", "reauth-public"),
            ("client_secret", "anything"),
            ("redirect_uri", CALLBACK),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(
        (s, err(&b)),
        (400, ("invalid_client", "invalid client credentials"))
    );
    let code = code_for(&sim, "reauth-public", Some(&challenge)).await;
    let (s, b) = token(
        &sim,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", "reauth-public"),
            ("redirect_uri", CALLBACK),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (s, _) = token(
        &sim,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", b["refresh_token"].as_str().unwrap()),
            ("client_id", "reauth-public"),
        ],
    )
    .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn refresh_without_secret_depends_on_the_policy() {
    let strict = sim_with(|_| {}).await;
    let rt = connect(&strict).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, b) = token(
        &strict,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("client_id", "reauth-eca"),
        ],
    )
    .await;
    assert_eq!((s, err(&b).0), (400, "invalid_client"));
    let relaxed = sim_with(|c| c.clients[0].secret_required_for_refresh = false).await;
    let rt = connect(&relaxed).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, _) = token(
        &relaxed,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("client_id", "reauth-eca"),
        ],
    )
    .await;
    assert_eq!(s, 200);
    // A secret sent anyway is still checked (facts §1.3).
    let rt = connect(&relaxed).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, _) = token(
        &relaxed,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("client_id", "reauth-eca"),
            ("client_secret", "wrong"),
        ],
    )
    .await;
    assert_eq!(s, 400);
}
