//! Alerts reach people: each new alert goes to the ops mailbox (SMTP sink) and the webhook (a
//! real HTTP listener) exactly once, signed; repeats count occurrences; acknowledging silences
//! that key only; a webhook that is down gets the alert when it is back, never twice.

use chrono::{Duration, Utc};
use domain::alerts::delivery::{self, Dispatcher};
use domain::alerts::{self, NewAlert, Raised, Severity};
use domain::config::Config;
use domain::types::OrgId;
use reauth_tests::smtp::SmtpSink;
use reauth_tests::webhook::WebhookSink;
use reauth_tests::{TestDb, both_backends};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use secrecy::SecretString;

const ACME: &str = "00D4c0000008cs2EAA";

fn foreign_use<'a>(org: &'a OrgId, ip: &'a str) -> NewAlert<'a> {
    NewAlert {
        kind: "token.foreign_use",
        severity: Severity::Critical,
        org_id: Some(org),
        subject: Some(ip),
        message: format!("A refresh reauth did not make, from {ip}"),
        details: serde_json::json!({ "source_ip": ip }),
        affected_orgs: None,
    }
}

struct Rig {
    config: Config,
    mailer: domain::mail::Mailer,
    http: reqwest::Client,
}

impl Rig {
    fn new(smtp: &SmtpSink, hook: url::Url) -> Self {
        let mut config = Config::default();
        config.mail.transport = smtp.url();
        config.alerts.email = vec!["ops@partner.example".into()];
        config.alerts.webhook_url = Some(hook);
        config.alerts.webhook_secret = Some(SecretString::from("whsec-test".to_owned()));
        let mailer = domain::mail::Mailer::from_config(&config.mail).unwrap();
        Self {
            config,
            mailer,
            http: delivery::webhook_client().unwrap(),
        }
    }

    async fn pass(
        &self,
        db: &TestDb,
        owner: &str,
        at: chrono::DateTime<Utc>,
    ) -> delivery::DeliveryReport {
        let d = Dispatcher {
            config: &self.config,
            mailer: &self.mailer,
            http: &self.http,
            owner,
        };
        delivery::run(&db.db, &d, at, 100).await.unwrap()
    }
}

fn verify_signature(h: &reauth_tests::webhook::Hook) {
    use hmac::Mac as _;
    let ts = h.header("x-reauth-timestamp").expect("timestamp header");
    let sig = h.header("x-reauth-signature").expect("signature header");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"whsec-test").unwrap();
    mac.update(format!("{ts}.").as_bytes());
    mac.update(&h.body);
    let want: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(sig, format!("sha256={want}"), "the signature checks out");
}

async fn alerts_reach_people_once_and_ack_silences_one_key(db: TestDb) {
    reauth_tests::import_csv(
        &db.db,
        "org_id,name,admin_email\n00D4c0000008cs2,Acme Corp,admin@acme.example\n",
    )
    .await;
    let org = OrgId::parse(ACME).unwrap();
    let smtp = SmtpSink::start().await;
    // The webhook is down: its port has no listener yet.
    let reserved = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hook_addr = reserved.local_addr().unwrap();
    drop(reserved);
    let rig = Rig::new(
        &smtp,
        url::Url::parse(&format!("http://{hook_addr}/hook")).unwrap(),
    );
    let t0 = Utc::now();

    let first = alerts::raise_keyed(&db.db, foreign_use(&org, "203.0.113.9"), t0)
        .await
        .unwrap();
    assert!(matches!(first, Raised::New(_)), "{first:?}");
    // Below min_severity (warning by default): on the dashboard, never sent.
    alerts::raise(
        &db.db,
        "test.info",
        Severity::Info,
        None,
        "fyi",
        serde_json::json!({}),
        t0,
    )
    .await
    .unwrap();

    let r = rig.pass(&db, "w1", t0).await;
    assert_eq!((r.rounds, r.sent, r.retried), (1, 1, 1), "{r:?}");
    assert_eq!(smtp.messages().len(), 1, "the ops mailbox has it");

    // Seen again while open: an occurrence, not a second alert, not a second notification.
    let again = alerts::raise_keyed(
        &db.db,
        foreign_use(&org, "203.0.113.9"),
        t0 + Duration::minutes(1),
    )
    .await
    .unwrap();
    assert_eq!(again, Raised::Repeated(first.id()));
    let r = rig.pass(&db, "w1", t0 + Duration::minutes(2)).await;
    assert_eq!(
        (r.rounds, r.sent, r.retried),
        (0, 0, 1),
        "still down: {r:?}"
    );

    // The webhook comes back; two workers pass at once: it gets the alert once.
    let hooks = WebhookSink::start_at(hook_addr).await;
    let at = t0 + Duration::hours(1);
    let (a, b) = tokio::join!(rig.pass(&db, "w1", at), rig.pass(&db, "w2", at));
    assert_eq!(a.sent + b.sent, 1, "{a:?} {b:?}");
    rig.pass(&db, "w1", t0 + Duration::hours(2)).await;
    let got = hooks.hooks();
    assert_eq!(got.len(), 1, "delivered exactly once");
    verify_signature(&got[0]);
    let body = got[0].json();
    assert_eq!(body["alert"]["kind"], "token.foreign_use");
    assert_eq!(body["alert"]["severity"], "critical");
    assert_eq!(body["alert"]["org_id"], ACME);
    assert_eq!(body["alert"]["occurrences"], 2);
    let text = body["text"].as_str().unwrap();
    assert!(
        text.starts_with("[critical] token.foreign_use — Acme Corp (00D4c0000008cs2EAA)"),
        "{text}"
    );
    assert!(text.contains("203.0.113.9"), "{text}");
    assert!(!String::from_utf8_lossy(&got[0].body).contains("whsec-test"));
    let mails = smtp.messages();
    assert_eq!(
        mails.len(),
        1,
        "mail went once, while the webhook was retried"
    );
    assert_eq!(mails[0].to, vec!["ops@partner.example".to_owned()]);
    assert!(
        mails[0]
            .header("Subject")
            .unwrap()
            .contains("token.foreign_use"),
        "{:?}",
        mails[0].header("Subject")
    );

    // Acknowledged: that key is silenced; another IP is a new alert and notifies.
    assert!(
        alerts::acknowledge(&db.db, first.id(), &domain::events::Actor::System, at)
            .await
            .unwrap()
    );
    let silenced = alerts::raise_keyed(
        &db.db,
        foreign_use(&org, "203.0.113.9"),
        t0 + Duration::days(3),
    )
    .await
    .unwrap();
    assert_eq!(silenced, Raised::Silenced(first.id()));
    let second = alerts::raise_keyed(
        &db.db,
        foreign_use(&org, "198.51.100.7"),
        t0 + Duration::days(3),
    )
    .await
    .unwrap();
    assert!(matches!(second, Raised::New(id) if id != first.id()));
    rig.pass(&db, "w1", t0 + Duration::days(3)).await;
    rig.pass(&db, "w1", t0 + Duration::days(4)).await;
    let got = hooks.hooks();
    assert_eq!(got.len(), 2, "only the new key notified");
    assert!(
        got[1].json()["text"]
            .as_str()
            .unwrap()
            .contains("198.51.100.7")
    );
    assert_eq!(smtp.messages().len(), 2);

    // The info alert never produced a delivery.
    let info = domain::entity::alert::Entity::find()
        .filter(domain::entity::alert::Column::Kind.eq("test.info"))
        .one(&db.db)
        .await
        .unwrap()
        .unwrap();
    let rows = domain::entity::alert_delivery::Entity::find()
        .filter(domain::entity::alert_delivery::Column::AlertId.eq(info.id))
        .all(&db.db)
        .await
        .unwrap();
    assert!(rows.is_empty(), "{rows:?}");
    let first_row = domain::entity::alert::Entity::find_by_id(first.id())
        .one(&db.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first_row.occurrences, 3);

    // Resolved, the key may open again: a new alert that notifies again.
    assert!(
        alerts::resolve_key(
            &db.db,
            &alerts::dedupe_key("token.foreign_use", Some(&org), Some("203.0.113.9")),
            t0 + Duration::days(5)
        )
        .await
        .unwrap()
    );
    let reopened = alerts::raise_keyed(
        &db.db,
        foreign_use(&org, "203.0.113.9"),
        t0 + Duration::days(5),
    )
    .await
    .unwrap();
    assert!(matches!(reopened, Raised::New(id) if id != first.id()));
}

both_backends!(
    alerts_reach_people_once_and_ack_silences_one_key,
    alerts_reach_people_once_and_ack_silences_one_key
);

async fn open_alerts_are_unique_per_key_and_partner_wide_ones_count_orgs(db: TestDb) {
    use sea_orm::ConnectionTrait;
    let smtp = SmtpSink::start().await;
    let hooks = WebhookSink::start().await;
    let rig = Rig::new(&smtp, hooks.url());
    let now = Utc::now();
    let wide = NewAlert {
        kind: "egress.refused",
        severity: Severity::Critical,
        org_id: None,
        subject: None,
        message: "Salesforce refused reauth's own refreshes with `ip restricted`".into(),
        details: serde_json::json!({}),
        affected_orgs: Some(5),
    };
    let id = alerts::raise_keyed(&db.db, wide.clone(), now)
        .await
        .unwrap()
        .id();
    // The partial unique index itself refuses a second open row under the key.
    let dup = db
        .db
        .execute_unprepared(&format!(
            "INSERT INTO alerts (kind, severity, message, details, created_at, dedupe_key, occurrences, notify_round) \
             SELECT kind, severity, message, details, created_at, dedupe_key, 1, 0 FROM alerts WHERE id = {id}"
        ))
        .await;
    assert!(dup.is_err(), "a second open alert under one key is refused");
    rig.pass(&db, "w1", now).await;
    let got = hooks.hooks();
    assert_eq!(got.len(), 1);
    let body = got[0].json();
    assert_eq!(body["alert"]["affected_orgs"], 5);
    assert!(body["alert"]["org_id"].is_null());
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .starts_with("[critical] egress.refused — partner-wide, 5 orgs"),
        "{body}"
    );
}

both_backends!(
    open_alerts_are_unique_per_key_and_partner_wide_ones_count_orgs,
    open_alerts_are_unique_per_key_and_partner_wide_ones_count_orgs
);

async fn metrics_count_open_alerts_by_kind_and_severity(db: TestDb) {
    let now = Utc::now();
    let org = OrgId::parse(ACME).unwrap();
    alerts::raise_keyed(&db.db, foreign_use(&org, "203.0.113.9"), now)
        .await
        .unwrap();
    alerts::raise_keyed(&db.db, foreign_use(&org, "198.51.100.7"), now)
        .await
        .unwrap();
    let app = reauth_tests::TestApp::spawn(&db, Config::default()).await;
    let m = app.get("/metrics").await.text().await.unwrap();
    assert!(
        m.contains(r#"reauth_alerts_open{kind="token.foreign_use",severity="critical"} 2"#),
        "{m}"
    );
    alerts::resolve_key(
        &db.db,
        &alerts::dedupe_key("token.foreign_use", Some(&org), Some("203.0.113.9")),
        now,
    )
    .await
    .unwrap();
    alerts::resolve_key(
        &db.db,
        &alerts::dedupe_key("token.foreign_use", Some(&org), Some("198.51.100.7")),
        now,
    )
    .await
    .unwrap();
    let m = app.get("/metrics").await.text().await.unwrap();
    assert!(
        m.contains(r#"reauth_alerts_open{kind="token.foreign_use",severity="critical"} 0"#),
        "a resolved kind reads 0, not its last value: {m}"
    );
    app.stop().await;
}

both_backends!(
    metrics_count_open_alerts_by_kind_and_severity,
    metrics_count_open_alerts_by_kind_and_severity
);
