//! Over a real SMTP listener: a thousand orgs, bounces to the secondary contact, the duplicate
//! window, retried temporary failures.

use super::*;

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
