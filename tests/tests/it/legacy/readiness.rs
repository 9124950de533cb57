//! Readiness, the import API's scope and redaction, and the package pre-flight.

use sea_orm::EntityTrait as _;

use super::*;

both_backends!(
    readiness_flips_to_ready_only_when_no_org_depends_on_legacy_on,
    readiness_flips_to_ready_only_when_no_org_depends_on_legacy
);
async fn readiness_flips_to_ready_only_when_no_org_depends_on_legacy(db: TestDb) {
    let w = world(db, |_| {}).await;
    let rep = report::readiness(&w.db.db).await.unwrap();
    assert!(rep.ready, "nothing imported: nothing depends on legacy");
    let a = mint(&w, "admin@acme.com");
    let o = mint(&w, "admin@other.example");
    import_text(
        &w,
        &format!("{HEADER}{}{}", csv_line(ACME, &a), csv_line(OTHER, &o)),
        Options::default(),
    )
    .await
    .unwrap();
    let count = |r: &report::Readiness, b: report::Bucket| {
        r.counts.iter().find(|(x, _)| *x == b).unwrap().1
    };
    let rep = report::readiness(&w.db.db).await.unwrap();
    assert!(!rep.ready);
    assert_eq!(count(&rep, report::Bucket::Held), 2);
    assert_eq!(count(&rep, report::Bucket::NeverHadLegacy), 1);
    assert!(
        rep.verdict
            .starts_with("not ready: 2 orgs still depend on the legacy app"),
        "{}",
        rep.verdict
    );
    let vault = w.app.state.vault.as_ref().unwrap();
    for org_id in [ACME, OTHER] {
        activate::activate(vault, &org(org_id), false, &Actor::Cli("t".into()))
            .await
            .unwrap()
            .unwrap();
    }
    consent(&w, ACME, "admin@acme.com").await;
    let rep = report::readiness(&w.db.db).await.unwrap();
    assert_eq!(
        (
            count(&rep, report::Bucket::Both),
            count(&rep, report::Bucket::LegacyOnly)
        ),
        (1, 1)
    );
    assert_eq!(rep.still_on_legacy.len(), 2);
    // Retire Acme by hand; the other org still depends on legacy.
    let out = retire::by_hand(
        vault,
        &[org(ACME), org(OTHER)],
        true,
        false,
        &Actor::Cli("t".into()),
    )
    .await
    .unwrap();
    assert_eq!(out[0].result, "refused", "{out:?}");
    assert_eq!(out[1].result, "retired", "{out:?}");
    let rep = report::readiness(&w.db.db).await.unwrap();
    assert!(!rep.ready);
    assert_eq!(count(&rep, report::Bucket::Retired), 1);
    // The other org's legacy grant dies: it no longer depends on the legacy app.
    w.sim
        .mass_revoke(&sfsim::MassRevoke {
            client_id: Some("reauth-legacy".into()),
            share: Some(1.0),
            ..Default::default()
        })
        .unwrap();
    let legacy_other = legacy_rows(&w)
        .await
        .into_iter()
        .find(|c| c.org_id == org(OTHER))
        .unwrap();
    let _ = vault
        .refresh(legacy_other.id, domain::vault::Trigger::Forced)
        .await
        .unwrap();
    let rep = report::readiness(&w.db.db).await.unwrap();
    assert!(rep.ready, "{}", rep.verdict);
    assert_eq!(count(&rep, report::Bucket::Neither), 1);
}

both_backends!(
    the_import_api_needs_its_scope_and_never_echoes_the_token_on,
    the_import_api_needs_its_scope_and_never_echoes_the_token
);
async fn the_import_api_needs_its_scope_and_never_echoes_the_token(db: TestDb) {
    let w = world(db, |_| {}).await;
    let m = mint(&w, "admin@acme.com");
    let post = |key: String, body: Value| {
        let c = w.app.client.clone();
        let url = format!("{}/api/v1/legacy-connections", w.app.base);
        async move {
            let r = c
                .post(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let body = json!({
        "org_id": ACME,
        "refresh_token": m.refresh_token,
        "instance_url": m.instance_url,
        "sf_user_id": m.user_id,
        "activate": true,
    });
    let reader = key(&w, &[ApiScope::TokensRead]).await;
    let (status, text) = post(reader.clone(), body.clone()).await;
    assert_eq!(status, 403, "{text}");
    let writer = key(&w, &[ApiScope::LegacyWrite]).await;
    let mut bad = body.clone();
    bad["sf_user_id"] = json!("not-a-user");
    let (status, text) = post(writer.clone(), bad).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("sf_user_id"), "{text}");
    assert!(!text.contains(&m.refresh_token));
    // A token sent in the wrong field, and an unknown field: refused, the token not echoed.
    let mut misplaced = body.clone();
    misplaced["activate"] = json!(m.refresh_token);
    let (status, text) = post(writer.clone(), misplaced).await;
    assert_eq!(status, 400, "{text}");
    assert!(!text.contains(&m.refresh_token), "{text}");
    let mut unknown = body.clone();
    unknown["password"] = json!("x");
    let (status, text) = post(writer.clone(), unknown).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("unknown field `password`"), "{text}");
    assert!(
        legacy_rows(&w).await.is_empty(),
        "nothing stored by refused requests"
    );
    let (status, text) = post(writer.clone(), body.clone()).await;
    assert_eq!(status, 201, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["status"], "active");
    assert!(!text.contains(&m.refresh_token));
    // A key that may only write cannot read tokens; the reader can, from the legacy app.
    assert_eq!(token(&w.app, &writer, ACME).await.0, 403);
    let (status, answer) = token(&w.app, &reader, ACME).await;
    assert_eq!((status, answer["app"].as_str()), (200, Some("legacy")));
    // Posting again would replace a connection reauth now owns: refused without force.
    let (status, text) = post(writer, body).await;
    assert_eq!(status, 409, "{text}");
}

both_backends!(
    an_org_without_the_package_gets_the_install_notice_not_a_link_on,
    an_org_without_the_package_gets_the_install_notice_not_a_link
);
async fn an_org_without_the_package_gets_the_install_notice_not_a_link(db: TestDb) {
    let w = world_custom(
        db,
        true,
        |_| {},
        |c| {
            legacy_config(c);
            c.legacy.package_id = Some("033000000000001".into());
            c.legacy.package_min_version = Some("2.0".into());
            c.legacy.install_url = Some("https://install.example/04t000000000001".into());
        },
    )
    .await;
    reauth_tests::import_csv(
        &w.db.db,
        &format!(
            "org_id,name,admin_email,wave\n{ACME},Acme Corp,admin@acme.com,W1\n{OTHER},Other Customer,admin@other.example,W1\n"
        ),
    )
    .await;
    let now = w.app.state.clock.now();
    domain::campaign::set_schedule(
        &w.db.db,
        "W1",
        Some(now - chrono::Duration::minutes(1)),
        Some(now + chrono::Duration::days(30)),
        &Actor::Cli("t".into()),
        now,
    )
    .await
    .unwrap();
    w.sim
        .set_installed_packages(ACME, vec![sfsim::InstalledPackage::reauth_connector()]);
    let mut old = sfsim::InstalledPackage::reauth_connector();
    old.major = 1;
    old.minor = 9;
    w.sim.set_installed_packages(OTHER, vec![old]);
    let a = mint(&w, "admin@acme.com");
    let o = mint(&w, "admin@other.example");
    import_text(
        &w,
        &format!("{HEADER}{}{}", csv_line(ACME, &a), csv_line(OTHER, &o)),
        Options {
            activate: true,
            ..Options::default()
        },
    )
    .await
    .unwrap();
    let vault = w.app.state.vault.as_ref().unwrap();
    let pass = domain::legacy::preflight::run(vault, now).await.unwrap();
    assert_eq!((pass.ready, pass.blocked, pass.unknown), (1, 1, 0));
    domain::campaign::schedule(&w.db.db, now, None)
        .await
        .unwrap();
    let kinds = |org_id: &str| {
        let db = w.db.db.clone();
        let id = org(org_id);
        async move {
            domain::entity::notice::Entity::find()
                .all(&db)
                .await
                .unwrap()
                .into_iter()
                .filter(|n| n.org_id == id)
                .map(|n| n.kind)
                .collect::<Vec<_>>()
        }
    };
    use domain::campaign::notices::NoticeKind;
    assert_eq!(kinds(ACME).await, vec![NoticeKind::Announce]);
    assert_eq!(kinds(OTHER).await, vec![NoticeKind::InstallPackage]);
    let other = domain::entity::org::Entity::find_by_id(org(OTHER))
        .one(&w.db.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(other.state, OrgState::NeedsAttention);
    assert!(
        other
            .preflight
            .as_deref()
            .unwrap()
            .starts_with("blocked: version 1.9.0 of the package is installed"),
        "{:?}",
        other.preflight
    );
    // The admin installs the update: the next check resumes the org and the campaign links it.
    w.sim
        .set_installed_packages(OTHER, vec![sfsim::InstalledPackage::reauth_connector()]);
    let later = now + chrono::Duration::hours(7);
    let pass = domain::legacy::preflight::run(vault, later).await.unwrap();
    assert_eq!((pass.ready, pass.blocked), (2, 0), "{pass:?}");
    assert_eq!(state_of(&w, OTHER).await, OrgState::Pending);
    domain::campaign::schedule(&w.db.db, later, None)
        .await
        .unwrap();
    assert!(kinds(OTHER).await.contains(&NoticeKind::Announce));
}
