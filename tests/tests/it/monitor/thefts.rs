//! Each way a token can be stolen or misused, found and delivered once; our own egress out of
//! range; blind connections.

use super::*;

async fn each_theft_mode_is_found_and_reaches_people_once(db: TestDb) {
    let smtp = SmtpSink::start().await;
    let hooks = WebhookSink::start().await;
    let (hook_url, smtp_url) = (hooks.url(), smtp.url());
    let (w, vault, conn) = connected(
        db,
        |s| {
            for c in &mut s.clients {
                if c.client_id == "reauth-eca" {
                    c.ip_allowlist = vec![
                        "127.0.0.0/8".parse().unwrap(),
                        "192.0.2.0/24".parse().unwrap(),
                    ];
                }
            }
        },
        |c| {
            c.partner.egress_ranges = vec!["127.0.0.0/8".parse().unwrap()];
            c.alerts.email = vec!["ops@partner.example".into()];
            c.alerts.webhook_url = Some(hook_url);
            c.mail.transport = smtp_url;
        },
    )
    .await;
    let before = w.sim.stats();
    advance(&w, Duration::from_secs(180));

    // Calibration: our refresh is found, its shape learned; nothing to report.
    let r = domain::monitor::sweep(&vault).await.unwrap();
    assert_eq!((r.checked, r.new_alerts, r.blind), (1, 0, 0), "{r:?}");
    assert_eq!(r.rows.get("ours"), Some(&1), "{r:?}");
    let st = monitor_state::Entity::find_by_id(conn)
        .one(&w.db.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(st.application.as_deref(), Some("Reauth"));
    assert_eq!(st.login_sub_type.as_deref(), Some("OauthRefreshToken"));
    assert!(!st.blind);
    let ex = exchange::Entity::find().all(&w.db.db).await.unwrap();
    assert_eq!(ex.len(), 1, "{ex:?}");
    assert_eq!(ex[0].egress_ip.as_deref(), Some("127.0.0.1"));
    assert!(ex[0].matched_at.is_some());

    // A thief with the token only, from inside the allowlist: refused for the secret.
    let s = steal(&w, false, "192.0.2.66");
    assert!(!s.refreshed, "{s:?}");
    advance(&w, Duration::from_secs(60));
    let r = domain::monitor::sweep(&vault).await.unwrap();
    assert_eq!(r.new_alerts, 1, "{r:?}");
    let a = open_alerts(&w, "token.foreign_use_attempt").await;
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].details["source_ip"], "192.0.2.66");
    assert_eq!(a[0].org_id.as_ref().map(|o| o.as_str()), Some(ACME));

    // A thief with the secret, from outside the allowlist: refused for the address.
    let s = steal(&w, true, "198.51.100.7");
    assert_eq!(s.login_status.as_deref(), Some("Restricted IP"), "{s:?}");
    advance(&w, Duration::from_secs(60));
    let r = domain::monitor::sweep(&vault).await.unwrap();
    assert_eq!(r.new_alerts, 1, "{r:?}");
    let a = open_alerts(&w, "token.foreign_use_attempt").await;
    assert_eq!(a.len(), 2, "a second address is a second alert");
    assert!(a.iter().any(|a| a.details["source_ip"] == "198.51.100.7"));

    // A thief with the secret, inside the allowlist: the refresh succeeds and rotates.
    let s = steal(&w, true, "192.0.2.50");
    assert!(s.refreshed, "{s:?}");
    advance(&w, Duration::from_secs(60));
    let r = domain::monitor::sweep(&vault).await.unwrap();
    assert_eq!(r.new_alerts, 1, "{r:?}");
    let a = open_alerts(&w, "token.foreign_use").await;
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].severity, domain::alerts::Severity::Critical);
    assert_eq!(a[0].details["source_ip"], "192.0.2.50");
    assert!(a[0].details["country"].is_string());
    assert!(
        a[0].message.contains("Rotate the client secret"),
        "{}",
        a[0].message
    );
    assert!(
        a[0].message.contains("Connected Apps OAuth Usage"),
        "{}",
        a[0].message
    );
    // The documented response: the org is back in re-consent and its admin gets a link.
    let org = domain::registry::show(&w.db.db, &domain::types::OrgId::parse(ACME).unwrap())
        .await
        .unwrap()
        .org;
    assert_eq!(org.state.as_str(), "needs_reauth", "{:?}", org.state);
    let notices = domain::entity::notice::Entity::find()
        .all(&w.db.db)
        .await
        .unwrap();
    assert!(
        notices
            .iter()
            .any(|n| n.kind == domain::entity::notice::NoticeKind::ReauthNeeded),
        "{notices:?}"
    );

    // Sweeping again finds nothing new.
    advance(&w, Duration::from_secs(60));
    let r = domain::monitor::sweep(&vault).await.unwrap();
    assert_eq!(r.new_alerts, 0, "{r:?}");

    // Monitoring alone made no exchange, and its queries are counted.
    let after = w.sim.stats();
    assert_eq!(
        after.refresh_ok, before.refresh_ok,
        "the monitor never refreshes"
    );
    assert!(
        after.rest_queries >= before.rest_queries + 5,
        "{} {}",
        before.rest_queries,
        after.rest_queries
    );
    let st = monitor_state::Entity::find_by_id(conn)
        .one(&w.db.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        st.queries,
        i64::try_from(after.rest_queries - before.rest_queries).unwrap()
    );

    // Each alert reached the webhook and the ops mailbox exactly once.
    let config = w.app.state.config.clone();
    let mailer = domain::mail::Mailer::from_config(&config.mail).unwrap();
    let http = delivery::webhook_client().unwrap();
    let d = Dispatcher {
        config: &config,
        mailer: &mailer,
        http: &http,
        owner: "t",
    };
    let now = w.app.state.clock.now();
    delivery::run(&w.db.db, &d, now, 100).await.unwrap();
    delivery::run(&w.db.db, &d, now + chrono::Duration::hours(1), 100)
        .await
        .unwrap();
    let got = hooks.hooks();
    let mut kinds: Vec<String> = got
        .iter()
        .map(|h| h.json()["alert"]["kind"].as_str().unwrap().to_owned())
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "token.foreign_use",
            "token.foreign_use_attempt",
            "token.foreign_use_attempt"
        ]
    );
    let texts: String = got
        .iter()
        .map(|h| h.json()["text"].as_str().unwrap().to_owned())
        .collect();
    for ip in ["192.0.2.66", "198.51.100.7", "192.0.2.50"] {
        assert!(texts.contains(ip), "{ip} in {texts}");
    }
    let ops: Vec<_> = smtp
        .messages()
        .into_iter()
        .filter(|m| m.to.contains(&"ops@partner.example".to_owned()))
        .collect();
    assert_eq!(ops.len(), 3, "{ops:?}");

    // The Security page shows the foreign uses with address and country, and the check.
    let viewer = reauth_tests::staff::first_sign_in(
        &w.app,
        "vi@partner.example",
        domain::staff::Role::Viewer,
    )
    .await;
    let (status, _, html) = viewer.get("/security").await;
    assert_eq!(status, 200, "{html}");
    for ip in ["192.0.2.66", "198.51.100.7", "192.0.2.50"] {
        assert!(html.contains(ip), "{ip} on the Security page");
    }
    assert!(html.contains("token.foreign_use_attempt"), "{html}");
    assert!(html.contains("1 of 1 exchanges seen"), "{html}");
    assert!(
        html.contains("127.0.0.0/8"),
        "the ranges as published: {html}"
    );
    assert!(!html.contains("Acknowledge"), "a viewer cannot acknowledge");

    // /metrics shows the rows by finding and the open alerts.
    let m = w.app.get("/metrics").await.text().await.unwrap();
    assert!(
        m.contains(r#"reauth_monitor_rows_total{finding="token.foreign_use"} 1"#),
        "{m}"
    );
    assert!(
        m.contains(r#"reauth_alerts_open{kind="token.foreign_use_attempt",severity="critical"} 2"#),
        "{m}"
    );
}

both_backends!(
    each_theft_mode_is_found_and_reaches_people_once,
    each_theft_mode_is_found_and_reaches_people_once
);

async fn our_exchanges_outside_the_egress_ranges_are_found(db: TestDb) {
    // The world's egress_ranges are 203.0.113.0/28; reauth reaches sfsim from 127.0.0.1.
    let (w, vault, _conn) = connected(db, |_| {}, |_| {}).await;
    advance(&w, Duration::from_secs(180));
    let r = domain::monitor::sweep(&vault).await.unwrap();
    assert_eq!(r.rows.get("egress.out_of_range"), Some(&1), "{r:?}");
    let a = open_alerts(&w, "egress.out_of_range").await;
    assert_eq!(a.len(), 1);
    assert!(a[0].org_id.is_none(), "partner-wide");
    assert_eq!(a[0].affected_orgs, Some(1));
    assert_eq!(a[0].details["source_ip"], "127.0.0.1");
    assert!(
        open_alerts(&w, "token.foreign_use").await.is_empty(),
        "ours, not a thief's"
    );
}

both_backends!(
    our_exchanges_outside_the_egress_ranges_are_found,
    our_exchanges_outside_the_egress_ranges_are_found
);

async fn exchanges_missing_from_login_history_make_the_connection_blind(db: TestDb) {
    let (w, vault, conn) = connected(
        db,
        |_| {},
        |c| {
            c.partner.egress_ranges = vec!["127.0.0.0/8".parse().unwrap()];
        },
    )
    .await;
    let now = w.app.state.clock.now();
    // Three exchanges the vault recorded that Salesforce's LoginHistory never shows.
    for m in [20, 15, 10] {
        exchange::Entity::insert(exchange::ActiveModel {
            id: sea_orm::ActiveValue::NotSet,
            org_id: sea_orm::ActiveValue::Set(domain::types::OrgId::parse(ACME).unwrap()),
            connection_id: sea_orm::ActiveValue::Set(conn),
            app: sea_orm::ActiveValue::Set(domain::entity::connection::ConnectionApp::Eca),
            at: sea_orm::ActiveValue::Set(now - chrono::Duration::minutes(m)),
            egress_ip: sea_orm::ActiveValue::Set(None),
            outcome: sea_orm::ActiveValue::Set("ok".into()),
            matched_at: sea_orm::ActiveValue::Set(None),
            class: sea_orm::ActiveValue::Set(None),
            rotated: sea_orm::ActiveValue::Set(Some(true)),
        })
        .exec_without_returning(&w.db.db)
        .await
        .unwrap();
    }
    advance(&w, Duration::from_secs(180));
    let r = domain::monitor::sweep(&vault).await.unwrap();
    assert_eq!(r.blind, 1, "{r:?}");
    let st = monitor_state::Entity::find_by_id(conn)
        .one(&w.db.db)
        .await
        .unwrap()
        .unwrap();
    assert!(st.blind);
    assert_eq!((st.seen, st.expected), (1, 4));
    let a = open_alerts(&w, "monitor.blind").await;
    assert_eq!(a.len(), 1);
    assert!(a[0].message.contains("Only 1 of"), "{}", a[0].message);
}

both_backends!(
    exchanges_missing_from_login_history_make_the_connection_blind,
    exchanges_missing_from_login_history_make_the_connection_blind
);
