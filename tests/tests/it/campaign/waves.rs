//! A wave over its whole schedule: each step sent once, consenters stopped.

use super::*;

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
