//! The token-use monitor against sfsim: each `/_sim/steal` mode raises the right alert with the
//! thief's address, and the alerts reach the webhook and the ops mailbox once each; our own
//! exchanges from outside `partner.egress_ranges` are `egress.out_of_range`; exchanges that never
//! show up make a connection `monitor_blind`; and monitoring never causes an exchange.

use std::time::Duration;

use domain::alerts::delivery::{self, Dispatcher};
use domain::entity::{alert, exchange, monitor_state};
use domain::vault::Trigger;
use reauth_tests::smtp::SmtpSink;
use reauth_tests::webhook::WebhookSink;
use reauth_tests::{TestDb, both_backends};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::reconsent_flow::{
    World, authorize_as, callback, connections, new_link, start, world_custom,
};

const ACME: &str = "00D4c0000008cs2EAA";

/// Acme consented and reauth made one refresh of its own (so calibration has a row to learn from).
async fn connected(
    db: TestDb,
    sim: impl FnOnce(&mut sfsim::Config),
    cfg: impl FnOnce(&mut domain::config::Config),
) -> (World, domain::vault::Vault, i64) {
    let w = world_custom(db, true, sim, cfg).await;
    let secret = new_link(&w, ACME).await;
    let auth = start(&w, &secret).await;
    let cb = authorize_as(auth, "admin@acme.com").await;
    assert_eq!(callback(&w, &cb).await.0, 200);
    let vault = w.app.state.vault.clone().expect("vault");
    let conn = connections(&w).await[0].id;
    advance(&w, Duration::from_secs(30));
    let answer = vault.refresh(conn, Trigger::Forced).await.unwrap();
    assert!(answer.is_ok(), "{answer:?}");
    // The vault records the exchange on a task of its own (not drained: the vault must stay open,
    // or "the monitor never refreshes" below would hold for the wrong reason).
    for _ in 0..100 {
        if !exchange::Entity::find()
            .all(&w.db.db)
            .await
            .unwrap()
            .is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (w, vault, conn)
}

fn advance(w: &World, d: Duration) {
    w.app.state.clock.advance(d);
    w.sim.advance_clock(d);
}

async fn open_alerts(w: &World, kind: &str) -> Vec<alert::Model> {
    alert::Entity::find()
        .filter(alert::Column::Kind.eq(kind))
        .filter(alert::Column::ResolvedAt.is_null())
        .all(&w.db.db)
        .await
        .unwrap()
}

fn steal(w: &World, with_secret: bool, ip: &str) -> sfsim::StealOutcome {
    w.sim
        .steal(&sfsim::Steal {
            username: Some("admin@acme.com".into()),
            client_id: Some("reauth-eca".into()),
            with_secret,
            from_ip: Some(ip.parse().unwrap()),
            ..sfsim::Steal::default()
        })
        .unwrap()
}

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

/// Every Salesforce call through a real local forward proxy whose "static egress" sfsim sees.
async fn through_proxy(
    db: TestDb,
    egress: &str,
) -> (
    World,
    domain::vault::Vault,
    i64,
    reauth_tests::proxy::ForwardProxy,
) {
    let proxy = reauth_tests::proxy::ForwardProxy::start(egress, Some("egress:pr0xy-pw")).await;
    let url = proxy.url(Some("egress:pr0xy-pw"));
    let (w, vault, conn) = connected(
        db,
        |s| {
            s.settings.trust_forwarded_for = true;
            // Salesforce's refresh-token allowlist is not what this test is about: the monitor
            // must notice a wrong egress that Salesforce lets through.
            for c in &mut s.clients {
                c.ip_allowlist.clear();
            }
        },
        |c| {
            c.salesforce.proxy = Some(domain::config::ProxyUrl::parse(&url).unwrap());
        },
    )
    .await;
    (w, vault, conn, proxy)
}

async fn calls_go_through_the_proxy_and_its_egress_is_checked(db: TestDb) {
    // The world's egress_ranges are 203.0.113.0/28.
    let (w, vault, conn, proxy) = through_proxy(db, "203.0.113.5").await;
    let seen = proxy.seen();
    assert!(
        seen.iter()
            .any(|l| l.starts_with("POST http://") && l.contains("/services/oauth2/token")),
        "the code exchange and the refresh went through the proxy: {seen:?}"
    );
    advance(&w, Duration::from_secs(180));
    let r = domain::monitor::sweep(&vault).await.unwrap();
    assert_eq!(r.rows.get("ours"), Some(&1), "{r:?}");
    assert!(open_alerts(&w, "egress.out_of_range").await.is_empty());
    let ex = exchange::Entity::find()
        .filter(exchange::Column::ConnectionId.eq(conn))
        .all(&w.db.db)
        .await
        .unwrap();
    assert_eq!(ex[0].egress_ip.as_deref(), Some("203.0.113.5"));
    assert!(
        proxy
            .seen()
            .iter()
            .any(|l| l.contains("/services/data/") && l.contains("LoginHistory")),
        "the monitor's query went through the proxy too"
    );

    // `reauth egress check`'s domain call: the address seen through the proxy, inside.
    let mut config = (*w.app.state.config).clone();
    config.salesforce.egress_check_url =
        Some(url::Url::parse(&format!("{}/_sim/ip", w.sim.base_url())).unwrap());
    let check = domain::salesforce::egress_check(&config).await.unwrap();
    assert_eq!(check.ip.to_string(), "203.0.113.5");
    assert!(check.in_egress_ranges);
    let shown = check.proxy.unwrap();
    assert!(
        !shown.contains("pr0xy-pw") && shown.contains("***"),
        "{shown}"
    );
    assert!(
        !format!("{config:?}").contains("pr0xy-pw"),
        "Debug redacts the proxy password"
    );
    assert!(!config.to_redacted_toml().contains("pr0xy-pw"));
    // no_proxy: the same call goes direct.
    config.salesforce.no_proxy = vec!["127.0.0.1".into()];
    let direct = domain::salesforce::egress_check(&config).await.unwrap();
    assert_eq!(direct.ip.to_string(), "127.0.0.1");
    assert!(!direct.in_egress_ranges);
}

both_backends!(
    calls_go_through_the_proxy_and_its_egress_is_checked,
    calls_go_through_the_proxy_and_its_egress_is_checked
);

async fn a_misconfigured_proxy_egress_is_out_of_range(db: TestDb) {
    let (w, vault, _conn, _proxy) = through_proxy(db, "198.18.0.9").await;
    advance(&w, Duration::from_secs(180));
    domain::monitor::sweep(&vault).await.unwrap();
    let a = open_alerts(&w, "egress.out_of_range").await;
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].details["source_ip"], "198.18.0.9");
    assert!(a[0].message.contains("203.0.113.0/28"), "{}", a[0].message);
}

both_backends!(
    a_misconfigured_proxy_egress_is_out_of_range,
    a_misconfigured_proxy_egress_is_out_of_range
);

/// The worker's own jobs, on their schedules: a theft is found by the `monitor` job within one
/// interval (2 s here) and reaches the webhook through the `alerts` job, without a refresh.
async fn the_worker_finds_a_theft_within_one_interval_and_delivers_it(db: TestDb) {
    let hooks = WebhookSink::start().await;
    let hook_url = hooks.url();
    let (w, vault, _conn) = connected(
        db,
        |_| {},
        |c| {
            c.partner.egress_ranges = vec!["127.0.0.0/8".parse().unwrap()];
            c.alerts.webhook_url = Some(hook_url);
        },
    )
    .await;
    let mut config = (*w.app.state.config).clone();
    config.monitor.every = Duration::from_secs(2);
    config.campaign.tick = Duration::from_secs(1);
    let ctx = worker::JobContext::new(
        w.db.db.clone(),
        std::sync::Arc::new(config),
        w.app.state.clock.clone(),
        domain::process::ProcessId::new("monitor-test"),
        Some(vault.clone()),
    )
    .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let jobs = tokio::spawn(worker::run(ctx, async move {
        let _ = stopped.await;
    }));
    advance(&w, Duration::from_secs(180));
    let before = w.sim.stats().refresh_ok;
    let s = steal(&w, false, "192.0.2.66");
    assert!(!s.refreshed);
    // Past the settling time of a fresh row.
    advance(&w, Duration::from_secs(60));
    let started = std::time::Instant::now();
    let mut got = Vec::new();
    while started.elapsed() < Duration::from_secs(15) {
        got = hooks.hooks();
        if !got.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let waited = started.elapsed();
    let _ = stop.send(());
    let _ = jobs.await;
    assert_eq!(got.len(), 1, "delivered once, within {waited:?}");
    assert_eq!(got[0].json()["alert"]["kind"], "token.foreign_use_attempt");
    assert!(
        waited < Duration::from_secs(5),
        "one monitor interval (2 s) plus the alerts job's second: {waited:?}"
    );
    assert_eq!(
        w.sim.stats().refresh_ok,
        before,
        "the jobs caused no refresh"
    );
}

both_backends!(
    the_worker_finds_a_theft_within_one_interval_and_delivers_it,
    the_worker_finds_a_theft_within_one_interval_and_delivers_it
);
