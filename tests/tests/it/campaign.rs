//! A compressed wave through the real scheduler and sender (mail to files).

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use domain::config::Config;
use domain::events::Actor;
use domain::registry::state::{Change, OrgState};
use domain::types::OrgId;
use reauth_tests::{TestDb, both_backends};

const ORGS: &str = "org_id,name,admin_email,csm_email,wave\n\
00D000000000001,Alpha,admin@alpha.example,csm@partner.example,\n\
00D000000000002,Beta,admin@beta.example,csm@partner.example,\n\
00D000000000003,Gamma,admin@gamma.example,csm@partner.example,\n\
00D000000000004,Delta,admin@delta.example,csm@partner.example,\n";

/// (recipient, first word of the subject) → count, from every message written so far.
fn mailbox(dir: &std::path::Path) -> BTreeMap<(String, String), u32> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        let header = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(name))
                .map(|l| l[name.len()..].trim().to_owned())
                .unwrap_or_default()
        };
        let subject = header("Subject:");
        let kind = subject
            .split([' ', ':'])
            .next()
            .unwrap_or_default()
            .to_owned();
        *out.entry((header("To:"), kind)).or_default() += 1;
    }
    out
}

async fn a_wave_sends_each_step_once_and_stops_for_consenters(db: TestDb) {
    reauth_tests::import_csv(&db.db, ORGS).await;
    let outbox = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.mail.transport = format!("file://{}", outbox.path().display());
    config.crypto.keys = vec![domain::security::crypto::Sealer::generate_key("k1")];
    let mailer = domain::mail::Mailer::from_config(&config.mail).unwrap();
    let sealer = domain::security::crypto::Sealer::from_config(&config.crypto).unwrap();
    let sender = domain::campaign::notices::Sender {
        mailer: &mailer,
        sealer: &sealer,
        config: &config,
        owner: "test",
    };
    let cli = Actor::Cli("t".into());
    let t0 = Utc::now();
    let at = |s: i64| t0 + Duration::seconds(s);

    let bad = domain::campaign::create_wave(
        &db.db,
        "W",
        Some(t0),
        at(20),
        Some("announce@start,nag@-1d"),
        &cli,
        t0,
    )
    .await
    .unwrap_err();
    assert!(bad.to_string().contains("step 2 (`nag@-1d`)"), "{bad}");
    domain::campaign::create_wave(
        &db.db,
        "W",
        Some(t0),
        at(20),
        Some("announce@start,remind@start+5s,final@deadline,escalate@+2s"),
        &cli,
        t0,
    )
    .await
    .unwrap();
    let ids: Vec<OrgId> = ["00D000000000001", "00D000000000002", "00D000000000003"]
        .iter()
        .map(|i| OrgId::parse(i).unwrap())
        .collect();
    assert_eq!(
        domain::campaign::move_orgs(&db.db, &ids, "W", &cli, t0)
            .await
            .unwrap(),
        3
    );

    // Start: everyone is announced to, once, however often the scheduler runs.
    for _ in 0..3 {
        domain::campaign::schedule(&db.db, at(1), None)
            .await
            .unwrap();
    }
    assert_eq!(
        domain::campaign::notices::send_due(&db.db, &sender, at(1), 100)
            .await
            .unwrap()
            .sent,
        3
    );
    assert_eq!(
        domain::registry::show(&db.db, &ids[1])
            .await
            .unwrap()
            .org
            .state,
        OrgState::Notified
    );

    // Alpha consents: nothing more for Alpha.
    domain::registry::state::apply(
        &db.db,
        &ids[0],
        Change::Advance(OrgState::Consented),
        &Actor::Customer("a".into()),
        at(2),
    )
    .await
    .unwrap();
    domain::campaign::notices::cancel_campaign(&db.db, &ids[0], at(2))
        .await
        .unwrap();

    // Reminders, with the wave paused for a while.
    domain::campaign::schedule(&db.db, at(6), None)
        .await
        .unwrap();
    domain::campaign::set_paused(&db.db, "W", true, &cli, at(6))
        .await
        .unwrap();
    assert_eq!(
        domain::campaign::notices::send_due(&db.db, &sender, at(7), 100)
            .await
            .unwrap()
            .sent,
        0,
        "paused"
    );
    domain::campaign::set_paused(&db.db, "W", false, &cli, at(8))
        .await
        .unwrap();
    assert_eq!(
        domain::campaign::notices::send_due(&db.db, &sender, at(8), 100)
            .await
            .unwrap()
            .sent,
        2
    );

    // Deadline and escalation (to the CSM), then nothing more.
    domain::campaign::schedule(&db.db, at(23), None)
        .await
        .unwrap();
    assert_eq!(
        domain::campaign::notices::send_due(&db.db, &sender, at(23), 100)
            .await
            .unwrap()
            .sent,
        4
    );
    domain::campaign::schedule(&db.db, at(30), None)
        .await
        .unwrap();
    assert_eq!(
        domain::campaign::notices::send_due(&db.db, &sender, at(30), 100)
            .await
            .unwrap()
            .sent,
        0
    );

    // Delta joins late: the announcement and the latest due step, not a burst.
    let late = [OrgId::parse("00D000000000004").unwrap()];
    domain::campaign::move_orgs(&db.db, &late, "W", &cli, at(31))
        .await
        .unwrap();
    let r = domain::campaign::schedule(&db.db, at(31), None)
        .await
        .unwrap();
    assert_eq!((r.created, r.skipped), (2, 2), "{r:?}");
    assert_eq!(
        domain::campaign::notices::send_due(&db.db, &sender, at(31), 100)
            .await
            .unwrap()
            .sent,
        2
    );

    // The links in wave mail work: each resolves to a valid, unused link for its own org.
    let mut checked = 0;
    for e in std::fs::read_dir(outbox.path()).unwrap() {
        let raw = std::fs::read_to_string(e.unwrap().path())
            .unwrap()
            .replace("=\r\n", "")
            .replace("=3D", "=");
        if !raw.contains("Subject: Action needed") || !raw.contains("To: admin@beta.example") {
            continue;
        }
        let start = raw.find("/r/").expect("a link");
        let secret: String = raw[start + 3..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        match domain::reconsent::links::lookup(&db.db, &secret, at(1))
            .await
            .unwrap()
        {
            domain::reconsent::links::Lookup::Valid(_, org) => {
                assert_eq!(org.id, "00D000000000002EAA")
            }
            other => panic!("the mailed link does not work: {other:?}"),
        }
        checked += 1;
    }
    assert_eq!(
        checked, 1,
        "Beta's announcement was found and its link checked"
    );
    let mail = mailbox(outbox.path());
    let count = |to: &str, kind: &str| {
        mail.get(&(to.to_owned(), kind.to_owned()))
            .copied()
            .unwrap_or(0)
    };
    assert_eq!(
        (
            count("admin@alpha.example", "Action"),
            count("admin@alpha.example", "Reminder")
        ),
        (1, 0),
        "{mail:?}"
    );
    for org in ["beta", "gamma"] {
        let to = format!("admin@{org}.example");
        assert_eq!(
            (
                count(&to, "Action"),
                count(&to, "Reminder"),
                count(&to, "Final")
            ),
            (1, 1, 1),
            "{org}: {mail:?}"
        );
    }
    assert_eq!(count("admin@delta.example", "Action"), 1);
    assert_eq!(
        count("admin@delta.example", "Reminder") + count("admin@delta.example", "Final"),
        0
    );
    assert_eq!(
        count("csm@partner.example", "Escalation"),
        3,
        "beta, gamma and delta escalated once each: {mail:?}"
    );
    assert_eq!(mail.values().sum::<u32>(), 3 + 2 + 2 + 2 + 2, "{mail:?}");
}

both_backends!(
    a_wave_sends_each_step_once_and_stops_for_orgs_that_consent,
    a_wave_sends_each_step_once_and_stops_for_consenters
);

struct Mail {
    sink: reauth_tests::smtp::SmtpSink,
    config: Config,
    mailer: domain::mail::Mailer,
    sealer: domain::security::crypto::Sealer,
}

async fn smtp_world() -> Mail {
    let sink = reauth_tests::smtp::SmtpSink::start().await;
    let mut config = Config::default();
    config.mail.transport = sink.url();
    config.crypto.keys = vec![domain::security::crypto::Sealer::generate_key("k1")];
    let mailer = domain::mail::Mailer::from_config(&config.mail).unwrap();
    let sealer = domain::security::crypto::Sealer::from_config(&config.crypto).unwrap();
    Mail {
        sink,
        config,
        mailer,
        sealer,
    }
}

impl Mail {
    fn sender(&self) -> domain::campaign::notices::Sender<'_> {
        domain::campaign::notices::Sender {
            mailer: &self.mailer,
            sealer: &self.sealer,
            config: &self.config,
            owner: "test",
        }
    }

    /// (recipient, first word of the subject) → count.
    fn counts(&self) -> BTreeMap<(String, String), u32> {
        let mut out = BTreeMap::new();
        for m in self.sink.messages() {
            let kind = m
                .header("Subject")
                .unwrap_or_default()
                .split([' ', ':'])
                .next()
                .unwrap_or_default()
                .to_owned();
            for to in &m.to {
                *out.entry((to.clone(), kind.clone())).or_default() += 1;
            }
        }
        out
    }
}

async fn thousand_orgs_get_one_message_per_step_over_smtp(db: TestDb) {
    const N: usize = 1000;
    let mut csv = String::from("org_id,name,admin_email,wave\n");
    for i in 0..N {
        csv.push_str(&format!(
            "00D{:012},Org {i},admin{i}@org{i}.example,Big\n",
            i + 1
        ));
    }
    reauth_tests::import_csv(&db.db, &csv).await;
    let t0 = Utc::now();
    let at = |s: i64| t0 + Duration::seconds(s);
    domain::campaign::set_schedule(&db.db, "Big", Some(t0), Some(at(20)), &Actor::System, t0)
        .await
        .unwrap();
    use sea_orm::{ConnectionTrait, Statement};
    db.db
        .execute_raw(Statement::from_string(db.db.get_database_backend(), "UPDATE waves SET steps = 'announce@start,remind@start+5s,final@deadline' WHERE name = 'Big'"))
        .await
        .unwrap();
    let m = smtp_world().await;
    let sender = m.sender();

    domain::campaign::schedule(&db.db, at(1), None)
        .await
        .unwrap();
    assert_eq!(
        domain::campaign::notices::send_due(&db.db, &sender, at(1), 10_000)
            .await
            .unwrap()
            .sent,
        N as u32
    );
    // A tenth of the orgs consent mid-wave.
    for i in (0..N).step_by(10) {
        let id = OrgId::parse(&format!("00D{:012}", i + 1)).unwrap();
        domain::registry::state::apply(
            &db.db,
            &id,
            Change::Advance(OrgState::Consented),
            &Actor::Customer("a".into()),
            at(2),
        )
        .await
        .unwrap();
        domain::campaign::notices::cancel_campaign(&db.db, &id, at(2))
            .await
            .unwrap();
    }
    for t in [6, 7, 21, 22] {
        domain::campaign::schedule(&db.db, at(t), None)
            .await
            .unwrap();
        domain::campaign::notices::send_due(&db.db, &sender, at(t), 10_000)
            .await
            .unwrap();
    }
    let counts = m.counts();
    for i in 0..N {
        let to = format!("admin{i}@org{i}.example");
        let c = |k: &str| {
            counts
                .get(&(to.clone(), k.to_owned()))
                .copied()
                .unwrap_or(0)
        };
        let expected = if i % 10 == 0 { (1, 0, 0) } else { (1, 1, 1) };
        assert_eq!(
            (c("Action"), c("Reminder"), c("Final")),
            expected,
            "org {i}"
        );
    }
    assert_eq!(m.sink.messages().len(), N + 2 * (N - N / 10));
}

both_backends!(
    a_wave_of_a_thousand_orgs_delivers_exactly_one_message_per_org_and_step,
    thousand_orgs_get_one_message_per_step_over_smtp
);

async fn a_bounce_falls_back_to_the_secondary_contact(db: TestDb) {
    let csv = "org_id,name,admin_email,secondary_email\n00D000000000001,Alpha,gone@alpha.example,ops@alpha.example\n";
    reauth_tests::import_csv(&db.db, csv).await;
    let m = smtp_world().await;
    m.sink.refuse("gone@alpha.example");
    let now = Utc::now();
    domain::campaign::notices::request_fresh_link(
        &db.db,
        &domain::types::OrgId::parse("00D000000000001EAA").unwrap(),
        now,
    )
    .await
    .unwrap();
    let r = domain::campaign::notices::send_due(&db.db, &m.sender(), now, 10)
        .await
        .unwrap();
    assert_eq!((r.sent, r.failed), (0, 1));
    let r = domain::campaign::notices::send_due(&db.db, &m.sender(), now, 10)
        .await
        .unwrap();
    assert_eq!(r.sent, 1, "the fallback notice went out");
    let msgs = m.sink.messages();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].to, ["ops@alpha.example"]);
    let org = domain::registry::show(&db.db, &OrgId::parse("00D000000000001").unwrap())
        .await
        .unwrap();
    let primary = org.contacts.iter().find(|c| c.role == "primary").unwrap();
    assert_eq!(primary.bounce_status, "bouncing");
    use sea_orm::EntityTrait;
    let alerts = domain::entity::alert::Entity::find()
        .all(&db.db)
        .await
        .unwrap();
    assert_eq!(alerts.len(), 1);
    assert!(alerts[0].message.contains("gone@alpha.example bounced"));
}

both_backends!(
    a_permanent_failure_marks_the_contact_and_falls_back_to_the_secondary,
    a_bounce_falls_back_to_the_secondary_contact
);

async fn the_duplicate_window_resends_the_same_message(db: TestDb) {
    // If a sender dies after the SMTP server accepted a message and before the status write, the
    // lease runs out and the notice is sent again — with the same Message-ID and the same link,
    // so mail systems and people can recognise it. That is the documented window.
    let csv = "org_id,name,admin_email\n00D000000000001,Alpha,admin@alpha.example\n";
    reauth_tests::import_csv(&db.db, csv).await;
    let m = smtp_world().await;
    let now = Utc::now();
    domain::campaign::notices::request_fresh_link(
        &db.db,
        &domain::types::OrgId::parse("00D000000000001EAA").unwrap(),
        now,
    )
    .await
    .unwrap();
    // The first attempt mints and seals the link, then "dies" before sending: no mail, lease held.
    use sea_orm::{ConnectionTrait, Statement};
    assert_eq!(
        domain::campaign::notices::send_due(&db.db, &m.sender(), now, 10)
            .await
            .unwrap()
            .sent,
        1
    );
    // Undo the status write, as if the process had died just before it.
    db.db
        .execute_raw(Statement::from_string(
            db.db.get_database_backend(),
            "UPDATE notices SET status = 'sending', lease_owner = 'dead', lease_expires_at = created_at, link_secret_ct = NULL",
        ))
        .await
        .unwrap();
    let later = now + Duration::minutes(6);
    let _ = domain::campaign::notices::send_due(&db.db, &m.sender(), later, 10)
        .await
        .unwrap();
    let msgs = m.sink.messages();
    assert_eq!(msgs.len(), 2, "exactly one duplicate, no more");
    assert_eq!(msgs[0].header("Message-ID"), msgs[1].header("Message-ID"));
    assert!(
        domain::campaign::notices::send_due(&db.db, &m.sender(), later, 10)
            .await
            .unwrap()
            .sent
            == 0
    );
}

both_backends!(
    the_documented_duplicate_window_resends_the_same_message_id,
    the_duplicate_window_resends_the_same_message
);

async fn temporary_smtp_failures_are_retried_with_backoff(db: TestDb) {
    let csv = "org_id,name,admin_email\n00D000000000001,Alpha,admin@alpha.example\n";
    reauth_tests::import_csv(&db.db, csv).await;
    let m = smtp_world().await;
    m.sink.defer("admin@alpha.example");
    let now = Utc::now();
    domain::campaign::notices::request_fresh_link(
        &db.db,
        &domain::types::OrgId::parse("00D000000000001EAA").unwrap(),
        now,
    )
    .await
    .unwrap();
    let r = domain::campaign::notices::send_due(&db.db, &m.sender(), now, 10)
        .await
        .unwrap();
    assert_eq!((r.sent, r.retried), (0, 1));
    m.sink.accept("admin@alpha.example");
    assert_eq!(
        domain::campaign::notices::send_due(&db.db, &m.sender(), now + Duration::seconds(5), 10)
            .await
            .unwrap()
            .sent,
        0,
        "backing off"
    );
    assert_eq!(
        domain::campaign::notices::send_due(&db.db, &m.sender(), now + Duration::seconds(31), 10)
            .await
            .unwrap()
            .sent,
        1,
        "delivered after the backoff"
    );
    let org = domain::registry::show(&db.db, &OrgId::parse("00D000000000001").unwrap())
        .await
        .unwrap();
    assert_eq!(
        org.contacts[0].bounce_status, "ok",
        "a temporary failure is not a bounce"
    );
    assert_eq!(m.sink.messages().len(), 1);
}

both_backends!(
    temporary_smtp_failures_are_retried_with_backoff_and_delivered,
    temporary_smtp_failures_are_retried_with_backoff
);
