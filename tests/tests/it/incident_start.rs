//! `reauth incident start|close|status` through the binary: a blank reason (with or without
//! `--revoke`), a second start and a close with none open are refused and change nothing;
//! starting while the breaker is tripped ends its hold; every step is one event.

use domain::security::incident::breaker;
use reauth_tests::{TestDb, both_backends};
use sea_orm::{
    ColumnTrait as _, ConnectionTrait as _, EntityTrait as _, PaginatorTrait as _, QueryFilter as _,
};

async fn incident_rows(db: &TestDb) -> (u64, u64) {
    use domain::entity::{event, incident};
    (
        incident::Entity::find().count(&db.db).await.unwrap(),
        event::Entity::find()
            .filter(event::Column::Kind.starts_with("incident."))
            .count(&db.db)
            .await
            .unwrap(),
    )
}

async fn trip_breaker(db: &TestDb) {
    db.db
        .execute_unprepared(
            "UPDATE breaker SET tripped_at = CURRENT_TIMESTAMP, exchanges = 25, refused = 10",
        )
        .await
        .unwrap();
    assert!(breaker::is_tripped(&db.db).await.unwrap());
}

async fn start_close_and_bad_input(db: TestDb) {
    let url = db.url.clone();
    let run = move |args: Vec<&'static str>| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            let dir = tempfile::tempdir().unwrap();
            let env = [("REAUTH_DATABASE_URL", url.as_str())];
            reauth_tests::run_reauth(dir.path(), &args, &env)
        })
    };

    let blank = run(vec!["incident", "start", "--reason", "  "])
        .await
        .unwrap();
    assert_eq!(blank.0, 1, "{blank:?}");
    assert!(blank.2.contains("needs a reason"), "{blank:?}");
    let revoke = run(vec!["incident", "start", "--reason", "", "--revoke"])
        .await
        .unwrap();
    assert_eq!(revoke.0, 1, "{revoke:?}");
    assert!(revoke.2.contains("needs a reason"), "{revoke:?}");
    let close_none = run(vec!["incident", "close"]).await.unwrap();
    assert_eq!(close_none.0, 1, "{close_none:?}");
    assert!(
        close_none.2.contains("no incident is open"),
        "{close_none:?}"
    );
    assert_eq!(
        incident_rows(&db).await,
        (0, 0),
        "bad input changes nothing"
    );

    trip_breaker(&db).await;
    let started = run(vec![
        "incident",
        "start",
        "--reason",
        "secret leaked in a log",
    ])
    .await
    .unwrap();
    assert_eq!(started.0, 0, "{started:?}");
    assert!(started.1.contains("incident 1 started"), "{started:?}");
    assert!(
        started.1.contains("its hold ends") && started.1.contains("Rotate the consumer secret"),
        "the breaker's hold ends, and the unrotated secret is named: {started:?}"
    );
    assert!(!breaker::is_tripped(&db.db).await.unwrap());

    let second = run(vec!["incident", "start", "--reason", "again"])
        .await
        .unwrap();
    assert_eq!(second.0, 1, "{second:?}");
    assert!(
        second.2.contains("incident 1 is already open"),
        "{second:?}"
    );
    assert_eq!(
        incident_rows(&db).await,
        (1, 1),
        "the second start changes nothing"
    );

    let status = run(vec!["incident", "status", "--format", "json"])
        .await
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&status.1).unwrap();
    assert_eq!(json["incident"]["state"], "open", "{json}");
    assert_eq!(
        json["incident"]["reason"], "secret leaked in a log",
        "{json}"
    );
    assert!(json["tripped_at"].is_null(), "{json}");

    let closed = run(vec!["incident", "close"]).await.unwrap();
    assert_eq!(closed.0, 0, "{closed:?}");
    assert!(closed.1.contains("incident 1 closed"), "{closed:?}");
    let again = run(vec!["incident", "close"]).await.unwrap();
    assert_eq!(again.0, 1, "{again:?}");
    assert_eq!(
        incident_rows(&db).await,
        (1, 3),
        "started, its emergency wave's notices cancelled, closed: one event each"
    );
    let text = run(vec!["incident", "status"]).await.unwrap();
    assert!(text.1.contains("none open (incident 1 closed"), "{text:?}");
}

both_backends!(start_close_and_bad_input_on, start_close_and_bad_input);

/// The dashboard's start action: only the typed word starts an incident (a wrong one changes
/// nothing and says so); the page then shows the incident's progress, and close ends it.
async fn an_admin_starts_and_closes_an_incident_on_the_dashboard(db: TestDb) {
    use domain::staff::Role;
    let mut config = domain::config::Config::default();
    config.crypto.keys = vec![domain::security::crypto::Sealer::generate_key("k1")];
    let app = reauth_tests::TestApp::spawn(&db, config).await;
    let viewer =
        reauth_tests::staff::first_sign_in(&app, "viewer@partner.example", Role::Viewer).await;
    let (_, _, page) = viewer.get("/incident").await;
    assert!(
        !page.contains("id=\"start-incident\""),
        "only an admin starts"
    );
    let admin =
        reauth_tests::staff::first_sign_in(&app, "admin@partner.example", Role::Admin).await;
    let (_, _, page) = admin.get("/incident").await;
    assert!(page.contains("id=\"start-incident\"") && page.contains("<strong>START</strong>"));

    let fields = |word: &'static str| [("reason", "secret leaked in a log"), ("confirm", word)];
    let (s, _, body) = admin.post("/incident/start", &fields("start now")).await;
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("nothing was started"), "{body}");
    assert_eq!(
        incident_rows(&db).await,
        (0, 0),
        "a wrong word changes nothing"
    );

    let (s, loc, _) = admin.post("/incident/start", &fields("START")).await;
    assert_eq!((s, loc.as_deref()), (303, Some("/incident")));
    assert_eq!(incident_rows(&db).await, (1, 1));
    let (_, _, page) = admin.get("/incident").await;
    assert!(page.contains("Incident 1 is open"), "{page}");
    assert!(page.contains("id=\"incident-progress\"") && page.contains("Re-consented"));
    assert!(
        !page.contains("id=\"start-incident\""),
        "one incident at a time"
    );

    let (s, loc, _) = admin.post("/incident/close", &[]).await;
    assert_eq!((s, loc.as_deref()), (303, Some("/incident")));
    // started, incident.notices_cancelled (closing ends the emergency wave), closed
    assert_eq!(incident_rows(&db).await, (1, 3));
    app.stop().await;
}

both_backends!(
    an_admin_starts_and_closes_an_incident_on_the_dashboard_on,
    an_admin_starts_and_closes_an_incident_on_the_dashboard
);

/// The incident page's `<title>` is its name alone and the incident panel is drawn once, in the
/// page's body (an unclosed title block once put the whole panel inside `<title>`, twice).
#[tokio::test]
async fn the_incident_page_has_a_plain_title_and_one_incident_panel() {
    use domain::staff::Role;
    use scraper::{Html, Selector};
    let db = TestDb::sqlite().await;
    let mut config = domain::config::Config::default();
    config.crypto.keys = vec![domain::security::crypto::Sealer::generate_key("k1")];
    let app = reauth_tests::TestApp::spawn(&db, config).await;
    let admin =
        reauth_tests::staff::first_sign_in(&app, "admin@partner.example", Role::Admin).await;
    let (s, _, page) = admin.get("/incident").await;
    assert_eq!(s, 200, "{page}");
    let doc = Html::parse_document(&page);
    let title: String = doc
        .select(&Selector::parse("title").unwrap())
        .flat_map(|t| t.text())
        .collect();
    assert_eq!(title, "Incident · reauth");
    let panels = doc
        .select(&Selector::parse("main #incident").unwrap())
        .count();
    assert_eq!(panels, 1, "one incident panel inside <main>");
    let forms = doc
        .select(&Selector::parse("#start-incident").unwrap())
        .count();
    assert_eq!(forms, 1, "one start form");
    app.stop().await;
}
