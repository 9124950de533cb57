//! Importing legacy tokens: every row checked, all or nothing; a token of another org; a dead token
//! found on activation.

use sea_orm::EntityTrait as _;

use super::*;

both_backends!(
    import_checks_every_row_and_writes_all_or_nothing_on,
    import_checks_every_row_and_writes_all_or_nothing
);
async fn import_checks_every_row_and_writes_all_or_nothing(db: TestDb) {
    let w = world(db, |_| {}).await;
    let m = mint(&w, "admin@acme.com");
    let bad = format!(
        "{HEADER}{}00D000000000BAD,rt1,,{i},005000000000001,,,\n\
         nonsense,rt2,,{i},005000000000001,,,\n\
         {OTHER},,,{i},005000000000001,,,\n\
         {ACME},rt3,,{i},005000000000001,,,\n",
        csv_line(ACME, &m),
        i = m.instance_url
    );
    let errors = import_text(&w, &bad, Options::default()).await.unwrap_err();
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(
        text.iter().any(
            |e| e.starts_with("tokens.csv:3: org_id: org 00D000000000BAD")
                && e.contains("is not in the registry")
        ),
        "{text:#?}"
    );
    assert!(
        text.iter()
            .any(|e| e.starts_with("tokens.csv:4: org_id: `nonsense`")),
        "{text:#?}"
    );
    let lines: Vec<_> = errors.iter().map(|e| e.line).collect();
    assert!(lines.is_sorted(), "errors in file order: {lines:?}");
    assert!(
        text.iter()
            .any(|e| e == "tokens.csv:5: refresh_token: is required"),
        "{text:#?}"
    );
    assert!(
        text.iter().any(|e| e.starts_with(
            "tokens.csv:6: org_id: org 00D4c0000008cs2EAA appears twice (first on line 2)"
        )),
        "{text:#?}"
    );
    assert_eq!(text.len(), 4, "{text:#?}");
    // No message carries a token, and nothing was written.
    assert!(
        !text
            .iter()
            .any(|e| e.contains(&m.refresh_token) || e.contains("rt3"))
    );
    assert!(legacy_rows(&w).await.is_empty());

    let unknown = format!(
        "org_id,refresh_token,instance_url,sf_user_id,password\n{ACME},x,{},005000000000001,p\n",
        m.instance_url
    );
    let errors = import_text(&w, &unknown, Options::default())
        .await
        .unwrap_err();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0]
            .to_string()
            .starts_with("tokens.csv:1: header: unknown column `password`")
    );

    // --skip-invalid stores the good row only.
    let r = import_text(
        &w,
        &bad,
        Options {
            skip_invalid: true,
            ..Options::default()
        },
    )
    .await
    .unwrap();
    assert_eq!((r.imported, r.skipped), (1, 4));
    let rows = legacy_rows(&w).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, ConnectionStatus::Held);
    assert_eq!(rows[0].sf_user_id, m.user_id);

    // Held means never exchanged: the heartbeat and the token API leave it alone.
    let before = w.sim.stats();
    domain::vault::heartbeat::sweep(w.app.state.vault.as_ref().unwrap(), 100)
        .await
        .unwrap();
    let k = key(&w, &[ApiScope::TokensRead]).await;
    let (status, body) = token(&w.app, &k, ACME).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("legacy_held")));
    let after = w.sim.stats();
    assert_eq!(after.refresh_ok, before.refresh_ok);
    assert_eq!(after.refresh_rejected, before.refresh_rejected);
    // Sealed at rest.
    assert!(!contains(&raw_dump(&w).await, &m.refresh_token));

    // Re-import replaces the held connection (the old row is set aside, never revoked).
    let m2 = mint(&w, "admin@acme.com");
    let r = import_text(
        &w,
        &format!("{HEADER}{}", csv_line(ACME, &m2)),
        Options::default(),
    )
    .await
    .unwrap();
    assert_eq!((r.imported, r.replaced), (1, 1));
    let rows = legacy_rows(&w).await;
    assert_eq!(
        rows.iter().map(|c| c.status).collect::<Vec<_>>(),
        vec![ConnectionStatus::Superseded, ConnectionStatus::Held]
    );
    assert!(w.sim.grants().iter().all(|g| !g.revoked));
}

both_backends!(
    a_token_of_another_org_serves_nothing_and_alerts_on,
    a_token_of_another_org_serves_nothing_and_alerts
);
async fn a_token_of_another_org_serves_nothing_and_alerts(db: TestDb) {
    let w = world(db, |_| {}).await;
    // The partner's table is wrong: Acme's token filed under the other customer.
    let m = mint(&w, "admin@acme.com");
    import_text(
        &w,
        &format!("{HEADER}{}", csv_line(OTHER, &m)),
        Options::default(),
    )
    .await
    .unwrap();
    let vault = w.app.state.vault.as_ref().unwrap();
    let a = activate::activate(vault, &org(OTHER), true, &Actor::Cli("t".into()))
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(a, activate::Activated::Mismatch { .. }), "{a:?}");
    let k = key(&w, &[ApiScope::TokensRead]).await;
    let (status, body) = token(&w.app, &k, OTHER).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("connection_held")),
        "{body}"
    );
    let alerts = domain::entity::alert::Entity::find()
        .all(&w.db.db)
        .await
        .unwrap();
    assert!(
        alerts.iter().any(|a| a.kind == "vault.identity_mismatch"
            && a.severity == domain::alerts::Severity::Critical
            && a.org_id.as_ref() == Some(&org(OTHER))),
        "{alerts:?}"
    );
}

both_backends!(
    a_dead_legacy_token_is_reported_on_verified_activation_on,
    a_dead_legacy_token_is_reported_on_verified_activation
);
async fn a_dead_legacy_token_is_reported_on_verified_activation(db: TestDb) {
    let w = world(db, |_| {}).await;
    let m = mint(&w, "admin@acme.com");
    w.sim
        .mass_revoke(&sfsim::MassRevoke {
            client_id: Some("reauth-legacy".into()),
            share: Some(1.0),
            ..Default::default()
        })
        .unwrap();
    import_text(
        &w,
        &format!("{HEADER}{}", csv_line(ACME, &m)),
        Options::default(),
    )
    .await
    .unwrap();
    let vault = w.app.state.vault.as_ref().unwrap();
    let a = activate::activate(vault, &org(ACME), true, &Actor::Cli("t".into()))
        .await
        .unwrap()
        .unwrap();
    match a {
        activate::Activated::Dead { reason, .. } => {
            assert!(
                reason.starts_with("legacy token was already dead"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        legacy_rows(&w).await[0].status,
        ConnectionStatus::NeedsReauth
    );
}
