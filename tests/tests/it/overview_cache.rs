//! The overview's figures are shared by every staff user for a few seconds: changes made
//! elsewhere wait for the figures to age, a staff user's own change shows at once.

use std::time::Duration;

use domain::staff::Role;
use domain::staff::overview_cache::OverviewCache;
use reauth_tests::{TestApp, TestDb, both_backends, staff};

use crate::dashboard_auth::config;

fn csv(from: usize, to: usize) -> String {
    let mut s = String::from("org_id,name,environment,admin_email,wave\n");
    for i in from..to {
        s.push_str(&format!(
            "00D000000000{i:03},Customer {i:02},production,admin{i}@customer{i}.example,w1\n"
        ));
    }
    s
}

async fn reused_until_invalidated(db: TestDb) {
    reauth_tests::import_csv(&db.db, &csv(0, 3)).await;
    let idle = Duration::from_secs(30 * 86_400);
    let now = chrono::Utc::now();
    let cache = OverviewCache::new(Duration::from_secs(3600));
    assert_eq!(cache.get(&db.db, now, idle).await.unwrap().total, 3);

    // An org imported behind the cache's back (as the worker or another server would).
    reauth_tests::import_csv(&db.db, &csv(3, 4)).await;
    assert_eq!(
        cache.get(&db.db, now, idle).await.unwrap().total,
        3,
        "within its maximum age the figures are reused"
    );
    cache.invalidate();
    assert_eq!(cache.get(&db.db, now, idle).await.unwrap().total, 4);

    // Figures older than the maximum age are computed again.
    let short = OverviewCache::new(Duration::ZERO);
    assert_eq!(short.get(&db.db, now, idle).await.unwrap().total, 4);
    reauth_tests::import_csv(&db.db, &csv(4, 5)).await;
    assert_eq!(short.get(&db.db, now, idle).await.unwrap().total, 5);
}
both_backends!(
    the_overview_is_reused_until_it_ages_or_is_invalidated,
    reused_until_invalidated
);

async fn own_change_shows_at_once(db: TestDb) {
    reauth_tests::import_csv(&db.db, &csv(0, 3)).await;
    let app = TestApp::spawn(&db, config()).await;
    let op = staff::first_sign_in(&app, "op@partner.example", Role::Operator).await;
    let (s, _, page) = op.get("/").await;
    assert_eq!(s, 200);
    assert!(!page.contains("<strong>paused</strong>"), "{page}");
    let (s, _, _) = op.post("/waves/w1/paused", &[("paused", "true")]).await;
    assert_eq!(s, 303);
    let (_, _, page) = op.get("/").await;
    assert!(
        page.contains("<strong>paused</strong>"),
        "the wave this user just paused reads as paused: {page}"
    );
    app.stop().await;
}
both_backends!(
    a_staff_users_own_change_shows_on_the_overview_at_once,
    own_change_shows_at_once
);
