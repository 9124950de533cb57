//! Notice senders SIGKILLed mid-wave: nothing is lost, and duplicates are only the documented kind.

use std::time::Duration;

use domain::config::Config;
use domain::events::Actor;
use rand::Rng;
use reauth_tests::TestDb;
use sea_orm::{ConnectionTrait, EntityTrait};
use secrecy::ExposeSecret;

use super::{Children, org_id, spawn_worker};

/// Notices under SIGKILL: 4 worker processes send a wave's announcements over SMTP while being
/// killed and restarted. Nothing is lost, and every duplicate is the documented kind (same
/// Message-ID, from a sender that died after the SMTP server accepted the message).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_senders_lose_no_notice_and_duplicate_only_inside_the_window() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    const N: usize = 500;
    let mut csv = String::from("org_id,name,admin_email,wave\n");
    for i in 0..N {
        csv.push_str(&format!(
            "{},Customer {i},admin@c{i}.example,W\n",
            org_id(i)
        ));
    }
    reauth_tests::import_csv(&db.db, &csv).await;
    let now = chrono::Utc::now();
    domain::campaign::set_schedule(
        &db.db,
        "W",
        Some(now - chrono::Duration::seconds(1)),
        Some(now + chrono::Duration::days(1)),
        &Actor::System,
        now,
    )
    .await
    .unwrap();
    db.db
        .execute_unprepared("UPDATE waves SET steps = 'announce@start'")
        .await
        .unwrap();
    let sink = reauth_tests::smtp::SmtpSink::start().await;
    let key = domain::security::crypto::Sealer::generate_key("k1");
    let env: Vec<(String, String)> = vec![
        ("REAUTH_DATABASE_URL".into(), db.url.clone()),
        (
            "REAUTH_CRYPTO__KEYS".into(),
            format!("[\"{}\"]", key.expose_secret()),
        ),
        ("REAUTH_MAIL__TRANSPORT".into(), sink.url()),
        ("REAUTH_CAMPAIGN__TICK".into(), "1s".into()),
    ];
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("workers.log");
    let mut workers = Children::new((0..4).map(|_| spawn_worker(&env, &log)));
    let mut kills = 0;
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let victim = rand::thread_rng().gen_range(0..workers.len());
        workers[victim].kill().unwrap();
        workers[victim].wait().unwrap();
        workers[victim] = spawn_worker(&env, &log);
        kills += 1;
    }
    for w in &mut workers {
        w.kill().ok();
        w.wait().ok();
    }
    // Time passes: the dead senders' leases run out; one sender finishes the rest.
    db.db.execute_unprepared("UPDATE notices SET lease_expires_at = now() - interval '1 second' WHERE status = 'sending'").await.unwrap();
    let mut config = Config::default();
    config.mail.transport = sink.url();
    config.crypto.keys = vec![key];
    let mailer = domain::mail::Mailer::from_config(&config.mail).unwrap();
    let sealer = domain::security::crypto::Sealer::from_config(&config.crypto).unwrap();
    let sender = domain::campaign::notices::Sender {
        mailer: &mailer,
        sealer: &sealer,
        config: &config,
        owner: "finisher",
    };
    domain::campaign::schedule(&db.db, chrono::Utc::now(), None)
        .await
        .unwrap();
    for _ in 0..10 {
        domain::campaign::notices::send_due(
            &db.db,
            &sender,
            chrono::Utc::now() + chrono::Duration::minutes(10),
            10_000,
        )
        .await
        .unwrap();
    }

    let notices = domain::entity::notice::Entity::find()
        .all(&db.db)
        .await
        .unwrap();
    assert_eq!(
        notices.len(),
        N,
        "one announcement per org was scheduled, however many schedulers ran"
    );
    assert!(
        notices.iter().all(|n| n.status == "sent"),
        "{:?}",
        notices
            .iter()
            .filter(|n| n.status != "sent")
            .map(|n| (&n.status, &n.last_error))
            .collect::<Vec<_>>()
    );
    let mut by_org: std::collections::HashMap<String, Vec<String>> =
        std::collections::HashMap::new();
    for m in sink.messages() {
        by_org
            .entry(m.to[0].clone())
            .or_default()
            .push(m.header("Message-ID").unwrap_or_default());
    }
    assert_eq!(by_org.len(), N, "every org got its announcement");
    let duplicates: usize = by_org.values().map(|ids| ids.len() - 1).sum();
    for (to, ids) in &by_org {
        assert!(
            ids.iter().all(|id| id == &ids[0]),
            "{to} got different messages: {ids:?}"
        );
    }
    eprintln!(
        "kills {kills}, messages {}, duplicates {duplicates} (all with the same Message-ID)",
        sink.messages().len()
    );
    assert!(
        duplicates <= kills * 8,
        "at most the in-flight sends of each killed sender"
    );
}
