//! The cut-over on consent: end to end across processes, the fallback when the new grant dies,
//! standby for another user, callers during the callback.

use sea_orm::EntityTrait as _;

use super::*;

both_backends!(cut_over_end_to_end_on, cut_over_end_to_end);
/// Legacy served → the admin consents on the real pages → every process serves the External
/// Client App → after `retire_after` the legacy grant is revoked at sfsim and the org retired.
/// Every token handed out worked at sfsim when it was handed out.
async fn cut_over_end_to_end(db: TestDb) {
    let w = world(db, |_| {}).await;
    let m = mint(&w, "admin@acme.com");
    let r = import_text(
        &w,
        &format!("{HEADER}{}", csv_line(ACME, &m)),
        Options {
            activate: true,
            ..Options::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(r.activated, 1);
    let k = key(&w, &[ApiScope::TokensRead]).await;
    let second = TestApp::spawn(&w.db, (*w.app.state.config).clone()).await;
    for app in [&w.app, &second] {
        let (status, body) = token(app, &k, ACME).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["app"], "legacy");
        assert_eq!(body["sf_user_id"], m.user_id.as_str());
        assert!(works_at_sfsim(&w, &body).await);
    }

    consent(&w, ACME, "admin@acme.com").await;
    // The invalidation reaches the other process within its poll.
    tokio::time::sleep(w.app.state.vault.as_ref().unwrap().invalidation_horizon()).await;
    for app in [&w.app, &second] {
        let (status, body) = token(app, &k, ACME).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["app"], "eca", "{body}");
        assert!(works_at_sfsim(&w, &body).await);
    }
    assert_eq!(state_of(&w, ACME).await, OrgState::Verified);

    // Retirement: the External Client App connection must have refreshed since verification.
    let vault = w.app.state.vault.as_ref().unwrap();
    let nothing = retire::run(vault, &Actor::System).await.unwrap();
    assert_eq!(nothing.started, 0, "not refreshed since verification yet");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let eca = connections(&w)
        .await
        .into_iter()
        .find(|c| c.app == ConnectionApp::Eca && c.status == ConnectionStatus::Active)
        .unwrap();
    vault
        .refresh(eca.id, domain::vault::Trigger::Forced)
        .await
        .unwrap()
        .unwrap();
    let pass = retire::run(vault, &Actor::System).await.unwrap();
    assert_eq!(
        (pass.started, pass.revoked),
        (1, 0),
        "revoked only after the invalidation horizon"
    );
    assert_eq!(legacy_rows(&w).await[0].status, ConnectionStatus::Retiring);
    tokio::time::sleep(vault.invalidation_horizon()).await;
    let pass = retire::run(vault, &Actor::System).await.unwrap();
    assert_eq!(pass.revoked, 1);
    assert_eq!(legacy_rows(&w).await[0].status, ConnectionStatus::Revoked);
    assert_eq!(state_of(&w, ACME).await, OrgState::LegacyRetired);
    let legacy_grant = w
        .sim
        .grants()
        .into_iter()
        .find(|g| g.client_id == "reauth-legacy")
        .unwrap();
    assert!(legacy_grant.revoked);
    // The partner keeps getting working External Client App tokens from both processes.
    for app in [&w.app, &second] {
        let (status, body) = token(app, &k, ACME).await;
        assert_eq!((status, body["app"].as_str()), (200, Some("eca")));
        assert!(works_at_sfsim(&w, &body).await);
    }
    let stats = w.sim.stats();
    assert_eq!(stats.reuse_detected, 0);
    assert_eq!(stats.concurrent_rejected, 0);
    let rep = report::readiness(&w.db.db).await.unwrap();
    assert!(rep.ready, "{}", rep.verdict);
    second.stop().await;
}

both_backends!(
    a_dead_eca_grant_falls_back_to_legacy_on,
    a_dead_eca_grant_falls_back_to_legacy
);
async fn a_dead_eca_grant_falls_back_to_legacy(db: TestDb) {
    let w = world(db, |_| {}).await;
    let m = mint(&w, "admin@acme.com");
    import_text(
        &w,
        &format!("{HEADER}{}", csv_line(ACME, &m)),
        Options {
            activate: true,
            ..Options::default()
        },
    )
    .await
    .unwrap();
    consent(&w, ACME, "admin@acme.com").await;
    let k = key(&w, &[ApiScope::TokensRead]).await;
    assert_eq!(token(&w.app, &k, ACME).await.1["app"], "eca");
    // The customer revokes the new app's grant before retirement.
    w.sim
        .mass_revoke(&sfsim::MassRevoke {
            client_id: Some("reauth-eca".into()),
            share: Some(1.0),
            ..Default::default()
        })
        .unwrap();
    let r = w
        .app
        .client
        .post(format!(
            "{}/api/v1/orgs/{ACME}/access-token/refresh",
            w.app.base
        ))
        .bearer_auth(&k)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "the forced refresh finds the grant dead");
    let (status, body) = token(&w.app, &k, ACME).await;
    assert_eq!(
        (status, body["app"].as_str()),
        (200, Some("legacy")),
        "{body}"
    );
    assert!(works_at_sfsim(&w, &body).await);
    assert_eq!(state_of(&w, ACME).await, OrgState::NeedsReauth);
    // Nothing retires a legacy connection that is the only one working.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let vault = w.app.state.vault.as_ref().unwrap();
    assert_eq!(retire::run(vault, &Actor::System).await.unwrap().started, 0);
}

both_backends!(
    another_consenting_user_keeps_legacy_until_accepted_on,
    another_consenting_user_keeps_legacy_until_accepted
);
async fn another_consenting_user_keeps_legacy_until_accepted(db: TestDb) {
    let w = world(db, |sc| {
        for o in &mut sc.orgs {
            if o.id.starts_with("00D4c0000008cs2") {
                o.users
                    .push(sfsim::UserConfig::new("second-admin@acme.com", true));
            }
        }
    })
    .await;
    let m = mint(&w, "admin@acme.com");
    import_text(
        &w,
        &format!("{HEADER}{}", csv_line(ACME, &m)),
        Options {
            activate: true,
            ..Options::default()
        },
    )
    .await
    .unwrap();
    consent(&w, ACME, "second-admin@acme.com").await;
    let k = key(&w, &[ApiScope::TokensRead]).await;
    let (status, body) = token(&w.app, &k, ACME).await;
    assert_eq!(
        (status, body["app"].as_str()),
        (200, Some("legacy")),
        "{body}"
    );
    let o = domain::entity::org::Entity::find_by_id(org(ACME))
        .one(&w.db.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(o.state, OrgState::NeedsAttention);
    assert_eq!(o.attention_owner.as_deref(), Some("csm"));
    assert!(o.attention_reason.unwrap().contains("accept the new user"));
    assert!(
        connections(&w)
            .await
            .iter()
            .any(|c| c.status == ConnectionStatus::Standby)
    );

    let vault = w.app.state.vault.as_ref().unwrap();
    activate::accept_new_user(
        vault,
        &org(ACME),
        &Actor::Staff("csm@partner.example".into()),
    )
    .await
    .unwrap()
    .unwrap();
    let (status, body) = token(&w.app, &k, ACME).await;
    assert_eq!((status, body["app"].as_str()), (200, Some("eca")), "{body}");
    assert!(works_at_sfsim(&w, &body).await);
    assert_eq!(state_of(&w, ACME).await, OrgState::Verified);
}

both_backends!(
    two_hundred_callers_during_the_consent_callback_all_get_working_tokens_on,
    two_hundred_callers_during_the_consent_callback_all_get_working_tokens
);
async fn two_hundred_callers_during_the_consent_callback_all_get_working_tokens(db: TestDb) {
    let w = world(db, |sc| {
        sc.clients.iter_mut().for_each(|c| c.rotation = true)
    })
    .await;
    let m = mint(&w, "admin@acme.com");
    import_text(
        &w,
        &format!("{HEADER}{}", csv_line(ACME, &m)),
        Options {
            activate: true,
            ..Options::default()
        },
    )
    .await
    .unwrap();
    let k = key(&w, &[ApiScope::TokensRead]).await;
    let secret = new_link(&w, ACME).await;
    let auth = start(&w, &secret).await;
    let cb = authorize_as(auth, "admin@acme.com").await;
    let callers: Vec<_> = (0..200)
        .map(|i| {
            let app_client = w.app.client.clone();
            let base = w.app.base.clone();
            let k = k.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis((i % 20) * 5)).await;
                let r = app_client
                    .get(format!("{base}/api/v1/orgs/{ACME}/access-token"))
                    .bearer_auth(&k)
                    .send()
                    .await
                    .unwrap();
                (
                    r.status().as_u16(),
                    r.json::<Value>().await.unwrap_or(Value::Null),
                )
            })
        })
        .collect();
    assert_eq!(callback(&w, &cb).await.0, 200);
    let mut apps = std::collections::BTreeMap::new();
    for c in callers {
        let (status, body) = c.await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert!(works_at_sfsim(&w, &body).await, "{body}");
        *apps
            .entry(body["app"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    assert_eq!(apps.values().sum::<i32>(), 200, "{apps:?}");
    let stats = w.sim.stats();
    assert_eq!(stats.reuse_detected, 0);
    assert_eq!(stats.concurrent_rejected, 0);
}
