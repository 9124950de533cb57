//! Refusals of our calls: partner-wide versus one org's setup; the doctor's view of LoginHistory.

use super::*;

/// `n` orgs at reauth and at sfsim, each consented through the real flow.
async fn many_connected(db: TestDb, n: usize) -> (World, domain::vault::Vault, Vec<i64>) {
    let ids: Vec<String> = (0..n).map(|i| format!("00D4c00000{i:05}")).collect();
    let mut csv = String::from("org_id,name,environment,admin_email\n");
    for (i, id) in ids.iter().enumerate() {
        csv.push_str(&format!(
            "{id},Customer {i},production,admin@c{i}.example\n"
        ));
    }
    reauth_tests::import_csv(&db.db, &csv).await;
    let mut sc = sfsim::Config::default_dataset();
    sc.orgs.clear();
    sc.settings.auto_approve = true;
    for (i, id) in ids.iter().enumerate() {
        sc = sc.with_org(
            id,
            &format!("Customer {i}"),
            "production",
            vec![sfsim::UserConfig::new(&format!("admin@c{i}.example"), true)],
        );
    }
    let sim = sfsim::Sim::start(sc, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut config = domain::config::Config::default();
    config.salesforce.client_id = Some("reauth-eca".into());
    config.salesforce.client_secret = Some("reauth-eca-secret".to_owned().into());
    config.salesforce.login_url = sim.base_url().to_owned();
    config.salesforce.sandbox_login_url = sim.base_url().to_owned();
    config.salesforce.extra_login_hosts = vec![sim.host_port().to_owned()];
    config.crypto.keys = vec![domain::security::crypto::Sealer::generate_key("k1")];
    config.partner.egress_ranges = vec!["127.0.0.0/8".parse().unwrap()];
    let app = reauth_tests::TestApp::spawn(&db, config).await;
    sim.add_redirect_uri(&format!("{}/oauth/callback", app.base));
    let w = World { db, app, sim };
    for (i, id) in ids.iter().enumerate() {
        let secret = new_link(&w, id).await;
        let auth = start(&w, &secret).await;
        let cb = authorize_as(auth, &format!("admin@c{i}.example")).await;
        assert_eq!(callback(&w, &cb).await.0, 200);
    }
    let vault = w.app.state.vault.clone().expect("vault");
    let conns = connections(&w).await.into_iter().map(|c| c.id).collect();
    (w, vault, conns)
}

async fn refresh_all_and_settle(w: &World, vault: &domain::vault::Vault, conns: &[i64]) {
    advance(w, Duration::from_secs(30));
    for c in conns {
        vault.refresh(*c, Trigger::Forced).await.unwrap().ok();
    }
    for _ in 0..100 {
        if exchange::Entity::find().all(&w.db.db).await.unwrap().len() >= conns.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    advance(w, Duration::from_secs(180));
}

async fn our_refusals_in_several_orgs_are_one_partner_wide_alert(db: TestDb) {
    let (w, vault, conns) = many_connected(db, 5).await;
    // Calibrate on a successful refresh each, then the partner's allowlist loses our egress.
    refresh_all_and_settle(&w, &vault, &conns).await;
    let r = domain::monitor::sweep(&vault).await.unwrap();
    assert_eq!(r.rows.get("ours"), Some(&5), "{r:?}");
    assert!(
        w.sim
            .set_ip_allowlist("reauth-eca", vec!["203.0.113.0/28".parse().unwrap()])
    );
    refresh_all_and_settle(&w, &vault, &conns).await;
    let r = domain::monitor::sweep(&vault).await.unwrap();
    assert_eq!(r.rows.get("egress.refused"), Some(&5), "{r:?}");
    let a = open_alerts(&w, "egress.refused").await;
    assert_eq!(a.len(), 1, "one alert, not one per org");
    assert!(a[0].org_id.is_none());
    assert_eq!(a[0].affected_orgs, Some(5));
    assert!(
        open_alerts(&w, "token.foreign_use_attempt")
            .await
            .is_empty(),
        "ours, not thieves"
    );
    // Fixed: the next pass of successful refreshes resolves it.
    w.sim.set_ip_allowlist("reauth-eca", vec![]);
    refresh_all_and_settle(&w, &vault, &conns).await;
    domain::monitor::sweep(&vault).await.unwrap();
    assert!(open_alerts(&w, "egress.refused").await.is_empty());
}

both_backends!(
    our_refusals_in_several_orgs_are_one_partner_wide_alert,
    our_refusals_in_several_orgs_are_one_partner_wide_alert
);

async fn a_refusal_in_one_org_is_that_orgs_setup(db: TestDb) {
    let (w, vault, conns) = many_connected(db, 2).await;
    refresh_all_and_settle(&w, &vault, &conns).await;
    domain::monitor::sweep(&vault).await.unwrap();
    w.sim
        .set_ip_allowlist("reauth-eca", vec!["203.0.113.0/28".parse().unwrap()]);
    refresh_all_and_settle(&w, &vault, &conns[..1]).await;
    let r = domain::monitor::sweep(&vault).await.unwrap();
    assert_eq!(r.rows.get("egress.refused"), Some(&1), "{r:?}");
    assert!(
        open_alerts(&w, "egress.refused").await.is_empty(),
        "not partner-wide"
    );
    let c = connections(&w)
        .await
        .into_iter()
        .find(|c| c.id == conns[0])
        .unwrap();
    let org = domain::registry::show(&w.db.db, &c.org_id)
        .await
        .unwrap()
        .org;
    assert_eq!(org.state.as_str(), "needs_attention", "{:?}", org.state);
}

both_backends!(
    a_refusal_in_one_org_is_that_orgs_setup,
    a_refusal_in_one_org_is_that_orgs_setup
);

async fn the_doctor_shows_what_salesforce_recorded(db: TestDb) {
    let (w, vault, _conn) = connected(
        db,
        |_| {},
        |c| {
            c.partner.egress_ranges = vec!["127.0.0.0/8".parse().unwrap()];
        },
    )
    .await;
    let before = w.sim.stats().refresh_ok;
    let since = w.app.state.clock.now() - chrono::Duration::hours(1);
    let org = domain::types::OrgId::parse(ACME).unwrap();
    let r = domain::monitor::doctor::doctor(&vault, &org, since, false)
        .await
        .unwrap();
    assert_eq!(r.application.as_deref(), Some("Reauth"));
    assert_eq!(r.login_sub_type.as_deref(), Some("OauthRefreshToken"));
    assert_eq!((r.exchanges, r.exchanges_with_a_row), (1, 1));
    let findings: Vec<&str> = r.rows.iter().map(|x| x.finding).collect();
    assert_eq!(
        findings,
        ["other", "ours"],
        "the consent's code exchange, then our refresh"
    );
    assert!(
        r.rows
            .iter()
            .all(|x| x.source_ip == "127.0.0.1" && x.in_egress_ranges)
    );
    assert_eq!(
        w.sim.stats().refresh_ok,
        before,
        "no exchange without --refresh"
    );
    // Unknown org: a clear error, nothing read.
    let e = domain::monitor::doctor::doctor(
        &vault,
        &domain::types::OrgId::parse("00D000000000009").unwrap(),
        since,
        false,
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("has no active connection"), "{e}");
}

both_backends!(
    the_doctor_shows_what_salesforce_recorded,
    the_doctor_shows_what_salesforce_recorded
);
