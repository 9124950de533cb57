//! Waiters for another process's lease are woken when it ends: on PostgreSQL the write that
//! ends a lease notifies `reauth_lease` with the connection's id, in the same statement.

use std::time::Duration;

use reauth_tests::TestDb;
use sea_orm::sqlx::postgres::PgListener;

use crate::token_deadline::connected;

const ACME: &str = "00D4c0000008cs2EAA";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_ending_write_notifies_other_processes_with_the_connection_id() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let (w, key) = connected(db, Duration::from_secs(15)).await;
    let id = crate::reconsent_flow::connections(&w).await[0].id;
    // Another process, listening.
    let mut listener = PgListener::connect(&w.db.url).await.unwrap();
    listener.listen(domain::vault::LEASE_CHANNEL).await.unwrap();
    w.app.state.clock.advance(Duration::from_secs(11));
    w.sim.advance_clock(Duration::from_secs(11));
    let r = w
        .app
        .client
        .post(format!(
            "{}/api/v1/orgs/{ACME}/access-token/refresh",
            w.app.base
        ))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let n = tokio::time::timeout(Duration::from_secs(10), listener.recv())
        .await
        .expect("no notification within 10 s")
        .unwrap();
    assert_eq!(n.payload(), id.to_string());
    // One per lease end: the claim itself announces nothing.
    let more = tokio::time::timeout(Duration::from_millis(500), listener.recv()).await;
    assert!(
        more.is_err(),
        "a second notification: {:?}",
        more.map(|n| n.map(|n| n.payload().to_owned()))
    );
    w.app.stop().await;
}
