//! The published egress ranges: `/ip-ranges` for customer admins and `/ip-ranges.json` for
//! scripts (a sync token that changes with the list), `reauth ip-ranges allowlist` within
//! Salesforce's limits, and `ip_change` notices sent once per org and change, not again after
//! a restart.

use domain::config::{Config, UpcomingRange};
use reauth_tests::smtp::SmtpSink;
use reauth_tests::{TestApp, TestDb, both_backends};
use sea_orm::EntityTrait;

fn config_with(upcoming: bool) -> Config {
    let mut c = Config::default();
    c.partner.name = "Example Integrations".into();
    c.partner.egress_ranges = vec!["203.0.113.0/28".parse().unwrap()];
    if upcoming {
        c.partner.upcoming_egress_ranges = vec![UpcomingRange {
            cidr: "198.51.100.0/29".parse().unwrap(),
            from: (chrono::Utc::now() + chrono::Duration::days(10)).date_naive(),
        }];
    }
    c
}

async fn the_pages_render_and_the_sync_token_follows_the_list(db: TestDb) {
    let app = TestApp::spawn(&db, config_with(false)).await;
    let r = app.get("/ip-ranges.json").await;
    assert_eq!(r.status(), 200);
    let a: serde_json::Value = r.json().await.unwrap();
    assert_eq!(a["prefixes"][0]["cidr"], "203.0.113.0/28");
    assert_eq!(a["prefixes"][0]["direction"], "outbound");
    assert_eq!(a["upcoming"].as_array().unwrap().len(), 0);
    let html = app.get("/ip-ranges").await.text().await.unwrap();
    assert!(html.contains("203.0.113.0/28"), "{html}");
    assert!(html.contains("Login IP Ranges"), "{html}");
    assert!(
        html.contains("nothing to add to it"),
        "the allowlist is the partner's: {html}"
    );
    assert!(html.contains(a["sync_token"].as_str().unwrap()));
    // Same list, same token and date, however often it is served.
    let again: serde_json::Value = app.get("/ip-ranges.json").await.json().await.unwrap();
    assert_eq!(again["sync_token"], a["sync_token"]);
    assert_eq!(again["created_at"], a["created_at"]);
    app.stop().await;

    // An upcoming range changes the token (after a restart with the new configuration).
    let app = TestApp::spawn(&db, config_with(true)).await;
    let b: serde_json::Value = app.get("/ip-ranges.json").await.json().await.unwrap();
    assert_ne!(b["sync_token"], a["sync_token"]);
    assert_eq!(b["upcoming"][0]["cidr"], "198.51.100.0/29");
    assert!(b["upcoming"][0]["from"].is_string());
    let html = app.get("/ip-ranges").await.text().await.unwrap();
    assert!(html.contains("198.51.100.0/29"), "{html}");
    app.stop().await;
}

both_backends!(
    the_pages_render_and_the_sync_token_follows_the_list,
    the_pages_render_and_the_sync_token_follows_the_list
);

async fn an_upcoming_change_is_announced_once_per_org(db: TestDb) {
    reauth_tests::import_csv(
        &db.db,
        "org_id,name,admin_email\n00D4c0000008cs2,Acme Corp,admin@acme.example\n00D4c0000008cs3,Beta Inc,admin@beta.example\n",
    )
    .await;
    let sink = SmtpSink::start().await;
    let mut config = config_with(true);
    config.mail.transport = sink.url();
    config.crypto.keys = vec![domain::security::crypto::Sealer::generate_key("k1")];
    let now = chrono::Utc::now();
    // Too early: 14 days' notice by default, the change is 10 days away — due now.
    let far = {
        let mut c = config.clone();
        c.partner.ip_change_notice = std::time::Duration::from_secs(5 * 86_400);
        c
    };
    assert_eq!(
        domain::ip_ranges::queue_notices(&db.db, &far, now)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        domain::ip_ranges::queue_notices(&db.db, &config, now)
            .await
            .unwrap(),
        2
    );
    // The next tick, and a restarted process, queue nothing again.
    assert_eq!(
        domain::ip_ranges::queue_notices(&db.db, &config, now)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        domain::ip_ranges::queue_notices(&db.db, &config, now + chrono::Duration::hours(1))
            .await
            .unwrap(),
        0
    );
    let mailer = domain::mail::Mailer::from_config(&config.mail).unwrap();
    let sealer = domain::security::crypto::Sealer::from_config(&config.crypto).unwrap();
    let sender = domain::campaign::notices::Sender {
        mailer: &mailer,
        sealer: &sealer,
        config: &config,
        owner: "t",
    };
    domain::campaign::notices::send_due(&db.db, &sender, now, 100)
        .await
        .unwrap();
    let got = sink.messages();
    assert_eq!(got.len(), 2, "one per org");
    for m in &got {
        assert!(
            m.header("Subject").unwrap().contains("from new IP"),
            "{:?}",
            m.header("Subject")
        );
        assert!(m.data.contains("198.51.100.0/29"), "{}", m.data);
        assert!(m.data.contains("/ip-ranges"), "{}", m.data);
        assert!(!m.data.contains("/r/"), "no link");
    }
    let n = domain::entity::notice::Entity::find()
        .all(&db.db)
        .await
        .unwrap();
    assert!(
        n.iter()
            .all(|n| n.kind == domain::entity::notice::NoticeKind::IpChange)
    );
}

both_backends!(
    an_upcoming_change_is_announced_once_per_org,
    an_upcoming_change_is_announced_once_per_org
);

#[test]
fn the_allowlist_command_prints_start_and_end_and_refuses_too_many_addresses() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("reauth.toml"),
        "[partner]\negress_ranges = [\"203.0.113.0/28\"]\nupcoming_egress_ranges = [{ cidr = \"198.51.100.0/29\", from = 2099-01-15 }]\n",
    )
    .unwrap();
    let (code, out, err) = reauth_tests::run_reauth(dir.path(), &["ip-ranges", "allowlist"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("203.0.113.0\t203.0.113.15\t# 203.0.113.0/28 (in use)"),
        "{out}"
    );
    assert!(
        out.contains(
            "198.51.100.0\t198.51.100.7\t# 198.51.100.0/29 (upcoming, used from 2099-01-15)"
        ),
        "{out}"
    );
    std::fs::write(
        dir.path().join("reauth.toml"),
        "[partner]\negress_ranges = [\"203.0.113.0/24\", \"198.51.100.0/31\"]\n",
    )
    .unwrap();
    let (code, out, err) = reauth_tests::run_reauth(dir.path(), &["ip-ranges", "allowlist"], &[]);
    assert_ne!(code, 0);
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("258 addresses") && err.contains("at most 256"),
        "{err}"
    );
}
