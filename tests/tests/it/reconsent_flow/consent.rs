//! The customer's consent end to end: production and sandbox, the wrong org, Deny, a blocked app,
//! re-consent, key rotation, no refresh token.

use super::*;

async fn production_consent_is_stored_encrypted_and_verified(db: TestDb) {
    let w = world(db).await;
    let secret = new_link(&w, "00D4c0000008cs2").await;
    let auth = start(&w, &secret).await;
    assert_eq!(auth.path(), "/services/oauth2/authorize");
    let cb = authorize_as(auth, "admin@acme.com").await;
    let (status, doc) = callback(&w, &cb).await;
    assert_eq!(status, 200);
    assert_eq!(sel(&doc, "h1#title"), "Acme Corp is connected");
    assert_eq!(
        state_of(&w, "00D4c0000008cs2").await,
        domain::registry::state::OrgState::Verified
    );
    let conns = connections(&w).await;
    assert_eq!(conns.len(), 1);
    assert_eq!(
        (conns[0].status.as_str(), conns[0].app.as_str()),
        ("active", "eca")
    );
    assert_eq!(conns[0].sf_username.as_deref(), Some("admin@acme.com"));
    assert_eq!(w.sim.stats().code_exchanges, 1);

    // The link is spent: opening it again says so.
    let r = w.app.get(&format!("/r/{secret}")).await;
    assert_eq!(r.status(), 409);
    // Replaying the callback changes nothing.
    let (status, _) = callback(&w, &cb).await;
    assert_eq!(status, 400);
    assert_eq!(connections(&w).await.len(), 1);

    // No issued token is stored in plain text anywhere.
    let dump = raw_dump(&w).await;
    assert!(!dump.is_empty());
    assert!(
        !contains(&dump, "5Aep861"),
        "a refresh token is stored in plain text"
    );
    assert!(
        !contains(&dump, "00D4c0000008cs2!AQ"),
        "an access token is stored in plain text"
    );
    w.app.stop().await;
}

both_backends!(
    production_consent_is_stored_encrypted_and_verified_without_plaintext_tokens,
    production_consent_is_stored_encrypted_and_verified
);

async fn sandbox_consent_uses_the_sandbox_login(db: TestDb) {
    let w = world(db).await;
    let secret = new_link(&w, "00D4c0000008cs3").await;
    let auth = start(&w, &secret).await;
    let cb = authorize_as(auth, "admin@acme.com.uat").await;
    let (status, doc) = callback(&w, &cb).await;
    assert_eq!(
        (status, sel(&doc, "h1#title").as_str()),
        (200, "Acme Sandbox is connected")
    );
    assert_eq!(
        state_of(&w, "00D4c0000008cs3").await,
        domain::registry::state::OrgState::Verified
    );
    w.app.stop().await;
}

both_backends!(
    sandbox_consent_completes,
    sandbox_consent_uses_the_sandbox_login
);

async fn wrong_org_is_refused_revoked_and_explained(db: TestDb) {
    let w = world(db).await;
    let secret = new_link(&w, "00D4c0000008cs2").await;
    let auth = start(&w, &secret).await;
    // The admin signs into the sandbox instead of production.
    let cb = authorize_as(auth, "admin@acme.com.uat").await;
    let (status, doc) = callback(&w, &cb).await;
    assert_eq!(status, 200);
    assert_eq!(sel(&doc, "h1#title"), "That was a different Salesforce org");
    assert!(
        sel(&doc, "main").contains("00D4c0000008cs3EAA"),
        "the page names the org they used"
    );
    assert!(connections(&w).await.is_empty(), "nothing is stored");
    assert_eq!(
        w.sim.stats().live_grants,
        0,
        "the grant was revoked at Salesforce"
    );
    assert_eq!(
        state_of(&w, "00D4c0000008cs2").await,
        domain::registry::state::OrgState::Opened
    );
    let links =
        domain::reconsent::links::list_for_org(&w.db.db, &OrgId::parse("00D4c0000008cs2").unwrap())
            .await
            .unwrap();
    assert!(
        links[0].used_at.is_none(),
        "the link stays usable for a retry"
    );
    w.app.stop().await;
}

both_backends!(
    wrong_org_consent_is_refused_and_revoked,
    wrong_org_is_refused_revoked_and_explained
);

async fn denied_consent_on_the_real_pages(db: TestDb) {
    let w = world(db).await;
    let secret = new_link(&w, "00D4c0000008cs2").await;
    let auth = start(&w, &secret).await;
    // Interactive: the login page, then Deny on the consent page.
    let sim = reauth_tests::http_client();
    let html = sim.get(auth).send().await.unwrap().text().await.unwrap();
    let doc = Html::parse_document(&html);
    let txn = doc
        .select(&Selector::parse("input[name=txn]").unwrap())
        .next()
        .unwrap()
        .value()
        .attr("value")
        .unwrap()
        .to_owned();
    let login = format!("{}/services/oauth2/authorize/login", w.sim.base_url());
    let bad = sim
        .post(&login)
        .form(&[
            ("txn", txn.as_str()),
            ("username", "admin@acme.com"),
            ("password", "wrong"),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        bad.text()
            .await
            .unwrap()
            .contains("Please check your username and password.")
    );
    let ok = sim
        .post(&login)
        .form(&[
            ("txn", txn.as_str()),
            ("username", "admin@acme.com"),
            ("password", "password"),
        ])
        .send()
        .await
        .unwrap();
    assert!(ok.text().await.unwrap().contains("oadeny"));
    let deny = sim
        .post(format!(
            "{}/services/oauth2/authorize/consent",
            w.sim.base_url()
        ))
        .form(&[("txn", txn.as_str()), ("decision", "deny")])
        .send()
        .await
        .unwrap();
    let cb = deny.headers()["location"].to_str().unwrap().to_owned();
    assert!(cb.contains("error=access_denied"), "{cb}");
    let (status, doc) = callback(&w, &cb).await;
    assert_eq!(
        (status, sel(&doc, "h1#title").as_str()),
        (200, "You chose not to allow access")
    );
    assert!(connections(&w).await.is_empty());
    w.app.stop().await;
}

both_backends!(
    denied_consent_is_explained_and_stores_nothing,
    denied_consent_on_the_real_pages
);

async fn blocked_app_gets_instructions(db: TestDb) {
    let w = world(db).await;
    w.sim
        .set_app_state("00D4c0000008cs2", "reauth-eca", AppInstall::Blocked);
    let secret = new_link(&w, "00D4c0000008cs2").await;
    let auth = start(&w, &secret).await;
    let cb = authorize_as(auth, "admin@acme.com").await;
    assert!(cb.contains("error=OAUTH_APP_BLOCKED"), "{cb}");
    let (_, doc) = callback(&w, &cb).await;
    assert_eq!(sel(&doc, "h1#title"), "The app is blocked in your org");
    assert!(connections(&w).await.is_empty());
    w.app.stop().await;
}

both_backends!(
    salesforce_error_answers_get_a_human_page,
    blocked_app_gets_instructions
);

async fn reconsent_replaces_only_after_verification(db: TestDb) {
    let w = world(db).await;
    for _ in 0..2 {
        let secret = new_link(&w, "00D4c0000008cs2").await;
        let auth = start(&w, &secret).await;
        let cb = authorize_as(auth, "admin@acme.com").await;
        let (status, _) = callback(&w, &cb).await;
        assert_eq!(status, 200);
    }
    let mut conns = connections(&w).await;
    conns.sort_by_key(|c| c.id);
    assert_eq!(
        conns.iter().map(|c| c.status.as_str()).collect::<Vec<_>>(),
        ["superseded", "active"]
    );
    assert_eq!(conns[1].replaces_id, Some(conns[0].id));
    // The old grant was revoked at Salesforce after the new one was verified.
    assert_eq!(w.sim.stats().live_grants, 1);
    let events = domain::events::list(
        &w.db.db,
        &domain::events::EventFilter {
            kind: Some("connection.superseded".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(events[0].details["old_token"], "revoked at Salesforce");
    w.app.stop().await;
}

both_backends!(
    a_reconsent_replaces_the_connection_only_after_verifying_it,
    reconsent_replaces_only_after_verification
);

async fn rotation_reseals_tokens_under_the_newest_key(db: TestDb) {
    let w = world(db).await;
    let secret = new_link(&w, "00D4c0000008cs2").await;
    let auth = start(&w, &secret).await;
    let cb = authorize_as(auth, "admin@acme.com").await;
    assert_eq!(callback(&w, &cb).await.0, 200);
    let old_key = w.app.state.config.crypto.keys[0].clone();
    let new_key = domain::security::crypto::Sealer::generate_key("k2");
    let both = domain::config::CryptoConfig {
        keys: vec![old_key, new_key.clone()],
        key_file: None,
        ..Default::default()
    };
    let sealer = domain::security::crypto::Sealer::from_config(&both).unwrap();
    let before = connections(&w).await.remove(0);
    let token_before =
        domain::vault::store::refresh_token(&before, w.app.state.sealer.as_ref().unwrap())
            .unwrap()
            .unwrap();

    let report = domain::security::keys::rotate(&w.db.db, &sealer)
        .await
        .unwrap();
    assert_eq!(report.connections, 1);
    let after = connections(&w).await.remove(0);
    assert_eq!(after.key_id.as_deref(), Some("k2"));
    assert_eq!(
        after.version, before.version,
        "re-sealing changes no token, so a lease holder's fence stays valid"
    );
    // Only the new key is needed from now on, and the token is the same.
    let only_new = domain::security::crypto::Sealer::from_config(&domain::config::CryptoConfig {
        keys: vec![new_key],
        key_file: None,
        ..Default::default()
    })
    .unwrap();
    let token_after = domain::vault::store::refresh_token(&after, &only_new)
        .unwrap()
        .unwrap();
    use secrecy::ExposeSecret;
    assert_eq!(token_after.expose_secret(), token_before.expose_secret());
    assert_eq!(
        domain::security::keys::rotate(&w.db.db, &sealer)
            .await
            .unwrap()
            .connections,
        0,
        "nothing left to rotate"
    );
    w.app.stop().await;
}

both_backends!(
    keys_rotate_reseals_every_token_under_the_newest_key,
    rotation_reseals_tokens_under_the_newest_key
);

async fn no_refresh_token_stores_nothing_and_explains(db: TestDb) {
    let w = world_custom(
        db,
        true,
        |c| c.clients[0].issue_refresh_token = false,
        |_| {},
    )
    .await;
    let secret = new_link(&w, "00D4c0000008cs2").await;
    let auth = start(&w, &secret).await;
    let cb = authorize_as(auth, "admin@acme.com").await;
    let (status, doc) = callback(&w, &cb).await;
    assert_eq!(
        (status, sel(&doc, "h1#title").as_str()),
        (200, "Salesforce did not allow a lasting connection")
    );
    assert!(
        sel(&doc, "main").contains("refresh_token"),
        "the page names the policy to fix"
    );
    assert!(connections(&w).await.is_empty());
    assert_eq!(
        w.sim.stats().live_grants,
        0,
        "the access-only grant was revoked"
    );
    w.app.stop().await;
}

both_backends!(
    a_grant_without_refresh_token_is_not_kept,
    no_refresh_token_stores_nothing_and_explains
);

/// The callback reloaded after a finished sign-in: the customer error design (title, a human
/// sentence, what to do), not a raw clause; and nothing changes.
async fn reloading_the_callback_explains_and_says_what_to_do(db: TestDb) {
    let w = world(db).await;
    let secret = new_link(&w, "00D4c0000008cs2").await;
    let cb = authorize_as(start(&w, &secret).await, "admin@acme.com").await;
    assert_eq!(callback(&w, &cb).await.0, 200);
    let (status, doc) = callback(&w, &cb).await;
    assert_eq!(status, 400);
    assert_eq!(
        sel(&doc, "h1#title.bad"),
        "There is no sign-in to finish here"
    );
    let message = sel(&doc, "#error-message");
    assert!(
        message.starts_with("This page finishes a sign-in started from your link")
            && message.ends_with("Nothing was changed."),
        "{message}"
    );
    assert!(
        sel(&doc, "#error-advice")
            .starts_with("To approve the app, open the link from our email again"),
        "{}",
        sel(&doc, "#error-advice")
    );
    assert!(!sel(&doc, "main").contains("no sign-in is in progress"));
    assert_eq!(connections(&w).await.len(), 1);
    w.app.stop().await;
}

both_backends!(
    a_reloaded_callback_renders_the_customer_error_design_with_what_to_do,
    reloading_the_callback_explains_and_says_what_to_do
);
