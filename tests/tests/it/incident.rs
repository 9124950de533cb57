//! The breaker: when Salesforce suddenly refuses a large share of the hour's exchanges as
//! revoked (sfsim revoking 30% of the grants at once, as a wrong secret or an old database
//! would look), the heartbeat stops, no "please consent again" mail leaves, one critical alert
//! says so; once an operator resumes, the held notices go out and the heartbeat goes on.

use std::sync::Arc;

use domain::entity::connection::ConnectionStatus;
use domain::events::Actor;
use domain::security::incident::breaker;
use domain::staff::Role;
use reauth_tests::smtp::SmtpSink;
use reauth_tests::{TestDb, both_backends, seed};
use sea_orm::{ConnectionTrait as _, EntityTrait as _, PaginatorTrait as _, QueryOrder as _};
use sfsim::Sim;

const CUSTOMERS: usize = 30;

struct Fleet {
    db: TestDb,
    sim: Sim,
    sink: SmtpSink,
    config: Arc<domain::config::Config>,
    vault: domain::vault::Vault,
}

/// `CUSTOMERS` connected customers, every connection due; the heartbeat one refresh at a time
/// (so the breaker can stop a sweep half-way).
async fn fleet(db: TestDb) -> Fleet {
    let sim = Sim::start(seed::sim_config(CUSTOMERS), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    seed::import_orgs(&db.db, CUSTOMERS).await;
    let sink = SmtpSink::start().await;
    let mut config = seed::vault_config(&sim, &db.url);
    config.heartbeat.concurrency = 1;
    config.mail.transport = sink.url();
    seed::connect_all(&db.db, &sim, &config, CUSTOMERS).await;
    make_due(&db).await;
    let config = Arc::new(config);
    let vault = domain::vault::Vault::from_config(
        db.db.clone(),
        config.clone(),
        domain::time::Clock::system(),
        "test",
    )
    .unwrap()
    .unwrap();
    Fleet {
        db,
        sim,
        sink,
        config,
        vault,
    }
}

async fn make_due(db: &TestDb) {
    db.db
        .execute_unprepared("UPDATE connections SET next_heartbeat_at = created_at")
        .await
        .unwrap();
}

async fn send_notices(f: &Fleet) -> domain::campaign::notices::SendReport {
    let mailer = domain::mail::Mailer::from_config(&f.config.mail).unwrap();
    let sealer = domain::security::crypto::Sealer::from_config(&f.config.crypto).unwrap();
    let sender = domain::campaign::notices::Sender {
        mailer: &mailer,
        sealer: &sealer,
        config: &f.config,
        owner: "test",
    };
    domain::campaign::notices::send_due(&f.db.db, &sender, chrono::Utc::now(), 1000)
        .await
        .unwrap()
}

/// Waits until every exchange sfsim answered is recorded (they are written on tasks of their
/// own, so the monitor's record never delays the token's).
async fn recorded(f: &Fleet) {
    let st = f.sim.stats();
    let answered = st.refresh_ok + st.refresh_rejected.values().sum::<u64>();
    for _ in 0..200 {
        let n = domain::entity::exchange::Entity::find()
            .count(&f.db.db)
            .await
            .unwrap();
        if n >= answered {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("exchanges were not recorded");
}

async fn statuses(f: &Fleet, s: ConnectionStatus) -> usize {
    domain::entity::connection::Entity::find()
        .all(&f.db.db)
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.status == s)
        .count()
}

async fn breaker_alerts(f: &Fleet) -> Vec<domain::entity::alert::Model> {
    domain::entity::alert::Entity::find()
        .all(&f.db.db)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.kind == breaker::ALERT_KIND)
        .collect()
}

async fn revoking_30_percent_trips_the_breaker_and_resuming_goes_on(db: TestDb) {
    let f = fleet(db).await;
    let revoked = f.sim.revoke_share(0.3).unwrap();
    assert_eq!(revoked, 9);

    let first = domain::vault::heartbeat::sweep(&f.vault, 10_000)
        .await
        .unwrap();
    recorded(&f).await;
    let now = chrono::Utc::now();
    assert!(
        breaker::check(&f.db.db, &f.config.incident, now)
            .await
            .unwrap(),
        "30% refused is more than 20%: {first:?}"
    );
    let exchanged = f.sim.stats().refresh_ok;

    // Tripped: a sweep over every due connection exchanges nothing.
    make_due(&f.db).await;
    let second = domain::vault::heartbeat::sweep(&f.vault, 10_000)
        .await
        .unwrap();
    assert_eq!(second.refreshed + second.needs_reauth, 0, "{second:?}");
    assert_eq!(f.sim.stats().refresh_ok, exchanged);

    // No "please consent again" mail leaves; the notices wait.
    let report = send_notices(&f).await;
    assert!(report.held);
    assert_eq!(report.sent, 0);
    assert!(f.sink.messages().is_empty());
    let waiting = domain::entity::notice::Entity::find()
        .all(&f.db.db)
        .await
        .unwrap();
    assert_eq!(
        waiting.len(),
        first.needs_reauth,
        "one reauth notice per dead grant"
    );
    assert!(
        waiting
            .iter()
            .all(|n| n.status == domain::campaign::notices::NoticeStatus::Pending)
    );
    // Held notices are not "stuck" ones: the breaker's own alert is the only one.
    assert_eq!(
        domain::campaign::notices::alert_stuck(&f.db.db, now + chrono::Duration::hours(2))
            .await
            .unwrap(),
        0
    );
    let alerts = breaker_alerts(&f).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].severity, domain::alerts::Severity::Critical);
    assert!(alerts[0].resolved_at.is_none());

    // The operator resumes: the held notices go out, the heartbeat refreshes the rest.
    let actor = Actor::Cli("ops".into());
    assert!(
        breaker::resume(&f.db.db, &actor, chrono::Utc::now())
            .await
            .unwrap()
    );
    assert!(
        !breaker::resume(&f.db.db, &actor, chrono::Utc::now())
            .await
            .unwrap(),
        "resuming twice changes nothing"
    );
    let third = domain::vault::heartbeat::sweep(&f.vault, 10_000)
        .await
        .unwrap();
    assert_eq!(third.paused, 0, "{third:?}");
    assert_eq!(statuses(&f, ConnectionStatus::NeedsReauth).await, revoked);
    assert_eq!(
        statuses(&f, ConnectionStatus::Active).await,
        CUSTOMERS - revoked
    );
    let sent = send_notices(&f).await;
    assert!(!sent.held);
    assert_eq!(sent.sent as usize, revoked, "{sent:?}");
    assert_eq!(f.sink.messages().len(), revoked);
    assert!(breaker_alerts(&f).await[0].resolved_at.is_some());
    // In the order they happened: without ORDER BY, PostgreSQL may return them in any order.
    let kinds: Vec<String> = domain::entity::event::Entity::find()
        .order_by_asc(domain::entity::event::Column::Id)
        .all(&f.db.db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .filter(|k| k.starts_with("breaker."))
        .collect();
    assert_eq!(kinds, ["breaker.tripped", "breaker.resumed"]);
}

both_backends!(
    revoking_30_percent_of_grants_trips_the_breaker_until_resumed_on,
    revoking_30_percent_trips_the_breaker_and_resuming_goes_on
);

async fn a_few_refusals_under_the_floor_do_not_trip_it(db: TestDb) {
    let f = fleet(db).await;
    // 3 of 10 exchanges revoked: 30%, but under the floor of 20 exchanges.
    f.sim
        .mass_revoke(&sfsim::MassRevoke {
            count: Some(3),
            ..Default::default()
        })
        .unwrap();
    domain::vault::heartbeat::sweep(&f.vault, 10).await.unwrap();
    recorded(&f).await;
    let now = chrono::Utc::now();
    let st = breaker::status(&f.db.db, now).await.unwrap();
    assert_eq!(st.window_exchanges, 10);
    assert!(!st.tripped());
    assert!(
        !breaker::check(&f.db.db, &f.config.incident, now)
            .await
            .unwrap()
    );
    assert!(breaker_alerts(&f).await.is_empty());
}

both_backends!(
    refusals_under_the_breaker_floor_do_not_trip_it_on,
    a_few_refusals_under_the_floor_do_not_trip_it
);

async fn an_admin_resumes_the_breaker_from_the_dashboard(db: TestDb) {
    let f = fleet(db).await;
    f.sim.revoke_share(0.3).unwrap();
    domain::vault::heartbeat::sweep(&f.vault, 10_000)
        .await
        .unwrap();
    recorded(&f).await;
    assert!(
        breaker::check(&f.db.db, &f.config.incident, chrono::Utc::now())
            .await
            .unwrap()
    );
    let app = reauth_tests::TestApp::spawn(&f.db, (*f.config).clone()).await;
    let viewer =
        reauth_tests::staff::first_sign_in(&app, "viewer@partner.example", Role::Viewer).await;
    let (s, _, page) = viewer.get("/incident").await;
    assert_eq!(s, 200);
    assert!(page.contains("Tripped at"), "{page}");
    assert!(
        !page.contains("id=\"resume-breaker\""),
        "only an admin resumes"
    );

    let admin =
        reauth_tests::staff::first_sign_in(&app, "admin@partner.example", Role::Admin).await;
    let (_, _, page) = admin.get("/incident").await;
    assert!(page.contains("id=\"resume-breaker\""), "{page}");
    let (s, loc, _) = admin.post("/incident/resume", &[]).await;
    assert_eq!((s, loc.as_deref()), (303, Some("/incident")));
    assert!(!breaker::is_tripped(&f.db.db).await.unwrap());
    let (_, _, page) = admin.get("/incident").await;
    assert!(page.contains("Closed"), "{page}");
    assert!(page.contains("by admin@partner.example"), "{page}");
    let resumed = domain::entity::event::Entity::find()
        .all(&f.db.db)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.kind == "breaker.resumed")
        .unwrap();
    assert_eq!(resumed.actor.as_deref(), Some("admin@partner.example"));
    app.stop().await;
}

both_backends!(
    an_admin_resumes_the_breaker_from_the_dashboard_on,
    an_admin_resumes_the_breaker_from_the_dashboard
);

/// `n` exchanges of one connection in the last minutes, the first `refused` of them revoked.
async fn exchanges(db: &TestDb, n: usize, refused: usize) {
    let now = chrono::Utc::now();
    for i in 0..n {
        domain::entity::exchange::Entity::insert(domain::entity::exchange::ActiveModel {
            id: sea_orm::ActiveValue::NotSet,
            org_id: sea_orm::ActiveValue::Set(
                domain::types::OrgId::parse(&seed::org_id(0)).unwrap(),
            ),
            connection_id: sea_orm::ActiveValue::Set(1),
            app: sea_orm::ActiveValue::Set(domain::entity::connection::ConnectionApp::Eca),
            at: sea_orm::ActiveValue::Set(now - chrono::Duration::seconds(i as i64)),
            egress_ip: sea_orm::ActiveValue::Set(None),
            outcome: sea_orm::ActiveValue::Set(if i < refused { "refused" } else { "ok" }.into()),
            matched_at: sea_orm::ActiveValue::Set(None),
            class: sea_orm::ActiveValue::Set((i < refused).then(|| "revoked".to_owned())),
            rotated: sea_orm::ActiveValue::Set((i >= refused).then_some(true)),
        })
        .exec_without_returning(&db.db)
        .await
        .unwrap();
    }
}

async fn the_cli_reports_a_tripped_breaker_and_resumes_it(db: TestDb) {
    exchanges(&db, 25, 10).await;
    let config = domain::config::Config::default();
    assert!(
        breaker::check(&db.db, &config.incident, chrono::Utc::now())
            .await
            .unwrap()
    );
    let url = db.url.clone();
    let (status, resume, after) = tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let env = [("REAUTH_DATABASE_URL", url.as_str())];
        let run = |args: &[&str]| reauth_tests::run_reauth(dir.path(), args, &env);
        (
            run(&["incident", "status"]),
            run(&["incident", "resume"]),
            run(&["incident", "status", "--format", "json"]),
        )
    })
    .await
    .unwrap();
    assert_eq!(status.0, 1, "exit 1 while tripped: {status:?}");
    assert!(
        status.1.contains("TRIPPED") && status.1.contains("10 of 25 exchanges"),
        "{status:?}"
    );
    assert_eq!(resume.0, 0, "{resume:?}");
    assert!(resume.1.contains("breaker resumed"), "{resume:?}");
    assert_eq!(after.0, 0, "{after:?}");
    let json: serde_json::Value = serde_json::from_str(&after.1).unwrap();
    assert!(json["tripped_at"].is_null(), "{json}");
    assert_eq!(
        json["window_exchanges"], 0,
        "earlier exchanges no longer count"
    );
    assert_eq!(json["resumed_by"], "operator");
}

both_backends!(
    the_cli_reports_a_tripped_breaker_and_resumes_it_on,
    the_cli_reports_a_tripped_breaker_and_resumes_it
);

async fn the_breaker_trips_even_if_its_row_was_deleted(db: TestDb) {
    db.db
        .execute_unprepared("DELETE FROM breaker")
        .await
        .unwrap();
    exchanges(&db, 25, 10).await;
    let config = domain::config::Config::default();
    assert!(
        breaker::check(&db.db, &config.incident, chrono::Utc::now())
            .await
            .unwrap()
    );
    assert!(breaker::is_tripped(&db.db).await.unwrap());
}

both_backends!(
    the_breaker_trips_even_if_its_row_was_deleted_on,
    the_breaker_trips_even_if_its_row_was_deleted
);
