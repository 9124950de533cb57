//! The idle heartbeat: it keeps tokens alive past many idle timeouts; without it they idle out.

use std::time::Duration;

use reauth_tests::{TestDb, both_backends};

use super::{ACME, advance, connected, get_token};

async fn heartbeat_keeps_idle_tokens_alive(db: TestDb) {
    // sfsim's client: 30-day idle policy; reauth: 25-day heartbeat.
    let (w, key) = connected(db, |_| {}, |_| {}).await;
    let vault = w.app.state.vault.clone().unwrap();
    for _ in 0..6 {
        // Six months, swept daily: many times the idle timeout.
        for _ in 0..30 {
            advance(&w, Duration::from_secs(86_400));
            domain::vault::heartbeat::sweep(&vault, 100).await.unwrap();
        }
    }
    let st = w.sim.stats();
    assert!(
        st.refresh_ok >= 7,
        "about one refresh per 25 days: {}",
        st.refresh_ok
    );
    assert!(st.refresh_rejected.is_empty(), "{:?}", st.refresh_rejected);
    assert_eq!(get_token(&w, &key, ACME).await.0, 200);
    w.app.stop().await;
}

both_backends!(
    the_heartbeat_keeps_tokens_alive_past_many_idle_timeouts,
    heartbeat_keeps_idle_tokens_alive
);

async fn without_heartbeat_tokens_idle_out(db: TestDb) {
    let (w, key) = connected(db, |_| {}, |_| {}).await;
    advance(&w, Duration::from_secs(31 * 86_400));
    let (s, _, b) = get_token(&w, &key, ACME).await;
    assert_eq!((s, b["error"].as_str()), (409, Some("needs_reauth")));
    w.app.stop().await;
}

both_backends!(
    without_the_heartbeat_tokens_idle_out,
    without_heartbeat_tokens_idle_out
);
