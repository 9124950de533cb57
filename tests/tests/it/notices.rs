//! Every mail reauth says it sends is sent: each notice kind, queued, goes out over SMTP; the
//! consent's confirmation, a staff member's "send a new link" and a bulk send each end in a
//! delivered message; a notice nobody sends is alerted.

use domain::campaign::notices::{self, NoticeKind, NoticeStatus};
use domain::config::Config;
use domain::events::Actor;
use domain::types::OrgId;
use reauth_tests::smtp::SmtpSink;
use reauth_tests::{TestDb, both_backends};
use sea_orm::EntityTrait;

const ACME: &str = "00D4c0000008cs2EAA";

async fn sink_config(sink: &SmtpSink) -> Config {
    let mut config = Config::default();
    config.mail.transport = sink.url();
    config.crypto.keys = vec![domain::security::crypto::Sealer::generate_key("k1")];
    config
}

async fn send(db: &TestDb, config: &Config, at: chrono::DateTime<chrono::Utc>) {
    let mailer = domain::mail::Mailer::from_config(&config.mail).unwrap();
    let sealer = domain::security::crypto::Sealer::from_config(&config.crypto).unwrap();
    let sender = notices::Sender {
        mailer: &mailer,
        sealer: &sealer,
        config,
        owner: "test",
    };
    notices::send_due(&db.db, &sender, at, 100).await.unwrap();
}

async fn every_kind_is_delivered(db: TestDb) {
    reauth_tests::import_csv(
        &db.db,
        "org_id,name,admin_email,admin_name,csm_email\n00D4c0000008cs2,Acme Corp,admin@acme.example,Jane Admin,csm@partner.example\n",
    )
    .await;
    let sink = SmtpSink::start().await;
    let config = sink_config(&sink).await;
    let org = OrgId::parse(ACME).unwrap();
    let now = chrono::Utc::now();
    for k in NoticeKind::ALL {
        notices::enqueue(&db.db, &org, k, format!("t|{k}"), now)
            .await
            .unwrap();
    }
    send(&db, &config, now).await;
    let rows = domain::entity::notice::Entity::find()
        .all(&db.db)
        .await
        .unwrap();
    assert!(
        rows.iter().all(|n| n.status == NoticeStatus::Sent),
        "{:?}",
        rows.iter()
            .map(|n| (n.kind, n.status, n.last_error.clone()))
            .collect::<Vec<_>>()
    );
    let got = sink.messages();
    assert_eq!(got.len(), NoticeKind::ALL.len(), "one message per kind");
    for k in NoticeKind::ALL {
        let n = rows.iter().find(|n| n.kind == k).unwrap();
        let id = n.message_id.clone().unwrap();
        let m = got
            .iter()
            .find(|m| m.header("Message-ID").as_deref() == Some(id.as_str()))
            .unwrap_or_else(|| panic!("{k} was not delivered"));
        assert!(!m.header("Subject").unwrap_or_default().is_empty(), "{k}");
        // Kinds with a link carry one.
        assert_eq!(
            m.data.contains("/r/"),
            k.carries_link(),
            "{k}: link present iff the kind carries one"
        );
    }
    assert!(
        notices::stuck(&db.db, now + chrono::Duration::hours(2), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

both_backends!(
    every_notice_kind_queued_is_delivered_over_smtp,
    every_kind_is_delivered
);

async fn staff_and_bulk_links_are_delivered(db: TestDb) {
    reauth_tests::import_csv(
        &db.db,
        "org_id,name,admin_email\n00D4c0000008cs2,Acme Corp,admin@acme.example\n00D4c0000008cs3,Acme UAT,admin@acme.example.uat\n",
    )
    .await;
    let sink = SmtpSink::start().await;
    let config = sink_config(&sink).await;
    let now = chrono::Utc::now();
    let actor = Actor::Staff("op@partner.example".into());
    // The org page's "Send a new link".
    let org = OrgId::parse(ACME).unwrap();
    assert!(
        domain::staff::bulk::send_link(&db.db, &org, "page", &actor, now)
            .await
            .unwrap()
    );
    // A bulk "send the link" job over both orgs.
    let job = domain::staff::bulk::submit(
        &db.db,
        &domain::staff::bulk::Action::SendLink,
        &domain::staff::bulk::Selection::Ids {
            ids: vec![OrgId::parse("00D4c0000008cs3").unwrap().to_string()],
        },
        "op@partner.example",
        now,
    )
    .await
    .unwrap();
    domain::staff::bulk::run(&db.db, job.id, "test", &|| now)
        .await
        .unwrap();
    send(&db, &config, now).await;
    let to: Vec<String> = sink.messages().iter().map(|m| m.to[0].clone()).collect();
    assert_eq!(to.len(), 2, "{to:?}");
    assert!(to.contains(&"admin@acme.example".to_owned()));
    assert!(to.contains(&"admin@acme.example.uat".to_owned()));
}

both_backends!(
    a_staff_link_and_a_bulk_send_each_end_in_a_delivered_mail,
    staff_and_bulk_links_are_delivered
);

async fn unsent_notices_are_alerted(db: TestDb) {
    reauth_tests::import_csv(
        &db.db,
        "org_id,name,admin_email\n00D4c0000008cs2,Acme Corp,admin@acme.example\n",
    )
    .await;
    let org = OrgId::parse(ACME).unwrap();
    let then = chrono::Utc::now() - chrono::Duration::hours(3);
    notices::enqueue(&db.db, &org, NoticeKind::FreshLink, "t|stuck".into(), then)
        .await
        .unwrap();
    let now = chrono::Utc::now();
    assert_eq!(notices::stuck(&db.db, now, 10).await.unwrap().len(), 1);
    assert_eq!(notices::alert_stuck(&db.db, now).await.unwrap(), 1);
    assert_eq!(
        notices::alert_stuck(&db.db, now).await.unwrap(),
        0,
        "one alert per stuck notice"
    );
    let alerts = domain::entity::alert::Entity::find()
        .all(&db.db)
        .await
        .unwrap();
    assert_eq!(alerts[0].kind, "notice.stuck");
}

both_backends!(
    a_notice_pending_far_past_its_time_raises_one_alert,
    unsent_notices_are_alerted
);

/// The org page's "Send a new link" is post/redirect/get: the POST queues one notice and
/// redirects; reloading the page it lands on sends nothing more, so the sink receives one mail.
async fn send_a_new_link_then_reload_sends_one_mail(db: TestDb) {
    reauth_tests::import_csv(
        &db.db,
        "org_id,name,admin_email\n00D4c0000008cs2,Acme Corp,admin@acme.example\n",
    )
    .await;
    let sink = SmtpSink::start().await;
    let config = sink_config(&sink).await;
    let app = reauth_tests::TestApp::spawn(&db, config.clone()).await;
    let op = reauth_tests::staff::first_sign_in(
        &app,
        "op@partner.example",
        domain::staff::Role::Operator,
    )
    .await;
    let (s, location, _) = op
        .post(&format!("/orgs/{ACME}/links"), &[("mode", "send")])
        .await;
    assert_eq!(s, 303);
    let location = location.unwrap();
    assert_eq!(location, format!("/orgs/{ACME}/links/sent"));
    let title = |page: &str| {
        let doc = scraper::Html::parse_document(page);
        let sel = scraper::Selector::parse("#notice-title").unwrap();
        doc.select(&sel)
            .next()
            .map(|e| e.text().collect::<String>())
    };
    let (s, _, page) = op.get(&location).await;
    assert_eq!(s, 200);
    assert_eq!(title(&page).as_deref(), Some("The link is on its way"));
    let (s, _, page) = op.get(&location).await;
    assert_eq!(s, 200);
    assert_eq!(title(&page).as_deref(), Some("This page was shown once"));
    send(
        &db,
        &config,
        chrono::Utc::now() + chrono::Duration::minutes(1),
    )
    .await;
    let to: Vec<String> = sink.messages().iter().map(|m| m.to[0].clone()).collect();
    assert_eq!(to, ["admin@acme.example"]);
    app.stop().await;
}

both_backends!(
    a_reloaded_send_a_new_link_page_sends_no_second_mail,
    send_a_new_link_then_reload_sends_one_mail
);

/// A mail server that accepts the connection and never answers: the delivery is abandoned at
/// `mail.timeout` and the notice goes back to pending for a retry; while it is being tried it is
/// leased for twice `mail.timeout`, counted from its claim — so a worker killed mid-send frees
/// its notices that soon after, not minutes later.
async fn a_stalled_mail_server_is_given_up_on_at_mail_timeout(db: TestDb) {
    reauth_tests::import_csv(
        &db.db,
        "org_id,name,admin_email\n00D4c0000008cs2,Acme Corp,admin@acme.example\n",
    )
    .await;
    let stalled = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = stalled.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = stalled.accept().await {
            open.push(socket); // never a greeting
        }
    });
    let mut config = Config::default();
    config.mail.transport = format!("smtp://127.0.0.1:{port}");
    config.mail.timeout = std::time::Duration::from_secs(1);
    config.crypto.keys = vec![domain::security::crypto::Sealer::generate_key("k1")];
    let org = OrgId::parse(ACME).unwrap();
    let queued = chrono::Utc::now() - chrono::Duration::minutes(10);
    notices::enqueue(&db.db, &org, NoticeKind::Link, "t|stall".into(), queued)
        .await
        .unwrap();
    let at = chrono::Utc::now();
    let sending = {
        let (db, config) = (db.db.clone(), config.clone());
        tokio::spawn(async move {
            let mailer = domain::mail::Mailer::from_config(&config.mail).unwrap();
            let sealer = domain::security::crypto::Sealer::from_config(&config.crypto).unwrap();
            let sender = notices::Sender {
                mailer: &mailer,
                sealer: &sealer,
                config: &config,
                owner: "test",
            };
            notices::send_due(&db, &sender, at, 100).await.unwrap()
        })
    };
    let claimed = loop {
        let n = domain::entity::notice::Entity::find()
            .one(&db.db)
            .await
            .unwrap()
            .unwrap();
        if n.status == NoticeStatus::Sending {
            break n;
        }
        assert!(!sending.is_finished(), "never claimed: {n:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let lease = claimed.lease_expires_at.unwrap() - claimed.updated_at;
    assert_eq!(lease, chrono::Duration::seconds(2), "twice mail.timeout");
    assert!(claimed.updated_at >= at, "counted from the claim");
    let report = sending.await.unwrap();
    assert_eq!((report.sent, report.retried), (0, 1), "{report:?}");
    let n = domain::entity::notice::Entity::find()
        .one(&db.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n.status, NoticeStatus::Pending);
    assert_eq!(n.lease_owner, None);
    assert!(
        n.last_error
            .as_deref()
            .is_some_and(|e| e.contains("no answer within mail.timeout (1s)")),
        "{:?}",
        n.last_error
    );
    held.abort();
}

both_backends!(
    a_stalled_mail_server_is_given_up_on_at_mail_timeout_,
    a_stalled_mail_server_is_given_up_on_at_mail_timeout
);
