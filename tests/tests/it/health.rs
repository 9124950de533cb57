//! `/healthz` and `/readyz` on the real server.

use reauth_tests::{TestApp, TestDb, both_backends};

async fn readyz_follows_the_database(db: TestDb) {
    let app = TestApp::spawn(&db, domain::config::Config::default()).await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    assert_eq!(
        health.json::<serde_json::Value>().await.unwrap()["status"],
        "ok"
    );
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    assert!(ready.headers().contains_key("x-request-id"));

    // Take the database away: the process is still healthy, but not ready.
    db.db.clone().close().await.unwrap();
    assert_eq!(app.get("/readyz").await.status(), 503);
    assert_eq!(app.get("/healthz").await.status(), 200);
    app.stop().await;
}

both_backends!(
    readyz_is_503_once_the_database_is_gone,
    readyz_follows_the_database
);
