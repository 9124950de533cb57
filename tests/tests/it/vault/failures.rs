//! When refreshing goes wrong: a revoked user, a crash mid-rotation, ambiguous answers, the
//! customer's setup refusing, hangs and rate limits, and Salesforce not rotating.

use domain::entity::connection::ConnectionStatus;
use std::time::Duration;

use domain::types::OrgId;
use domain::vault::{Trigger, VaultError};
use reauth_tests::{TestDb, both_backends};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};
use secrecy::ExposeSecret;

use crate::reconsent_flow::{World, connections};

use super::{ACME, advance, connected, force, get_token};

async fn revoked_user_moves_exactly_that_org_to_needs_reauth(db: TestDb) {
    let (w, key) = connected(db, |_| {}, |_| {}).await;
    assert_eq!(w.sim.revoke_user_grants("admin@acme.com"), 1);
    advance(&w, Duration::from_secs(11));
    let (s, b) = force(&w, &key, serde_json::json!({})).await;
    assert_eq!((s, b["error"].as_str()), (409, Some("needs_reauth")));
    assert!(
        b["reason"]
            .as_str()
            .unwrap()
            .contains("expired access/refresh token"),
        "{b}"
    );
    let org = domain::registry::show(&w.db.db, &OrgId::parse(ACME).unwrap())
        .await
        .unwrap();
    assert_eq!(
        org.org.state,
        domain::registry::state::OrgState::NeedsReauth
    );
    let notices = domain::entity::notice::Entity::find()
        .all(&w.db.db)
        .await
        .unwrap();
    assert_eq!(
        notices.iter().map(|n| n.kind.as_str()).collect::<Vec<_>>(),
        ["confirmation", "reauth_needed"],
        "the confirmation of the consent, then the call to reconnect"
    );
    assert_eq!(
        domain::entity::alert::Entity::find()
            .all(&w.db.db)
            .await
            .unwrap()
            .len(),
        1
    );
    let sandbox = domain::registry::show(&w.db.db, &OrgId::parse("00D4c0000008cs3").unwrap())
        .await
        .unwrap();
    assert_eq!(
        sandbox.org.state,
        domain::registry::state::OrgState::Pending,
        "other orgs are untouched"
    );
    // The API keeps saying so, without calling Salesforce again.
    let before = w.sim.stats().refresh_rejected.values().sum::<u64>();
    assert_eq!(get_token(&w, &key, ACME).await.0, 409);
    assert_eq!(w.sim.stats().refresh_rejected.values().sum::<u64>(), before);
    w.app.stop().await;
}

both_backends!(
    a_revoked_user_moves_that_org_to_needs_reauth_with_a_notice,
    revoked_user_moves_exactly_that_org_to_needs_reauth
);

/// Leaves the connection as a worker that died mid-refresh would: `refreshing`, lease expired.
async fn crash_mid_refresh(w: &World) {
    let c = connections(w).await.remove(0);
    let mut a: domain::entity::connection::ActiveModel = c.into();
    a.status = Set(ConnectionStatus::Refreshing);
    a.lease_owner = Set(Some("worker-that-died".into()));
    a.lease_expires_at = Set(Some(chrono::Utc::now() - chrono::Duration::seconds(1)));
    a.update(&w.db.db).await.unwrap();
}

async fn crashes_are_recovered_or_reported_precisely(db: TestDb) {
    let (w, _key) = connected(db, |_| {}, |_| {}).await;
    let vault = w.app.state.vault.clone().unwrap();
    // 1. The worker died before Salesforce saw its request: the probe recovers the token.
    crash_mid_refresh(&w).await;
    let r = domain::vault::heartbeat::sweep(&vault, 100).await.unwrap();
    assert_eq!((r.due, r.refreshed), (1, 1));
    assert_eq!(connections(&w).await[0].status, ConnectionStatus::Active);

    // 2. The worker died after Salesforce rotated: the stored token is dead, and we say exactly that.
    let c = connections(&w).await.remove(0);
    let sealer = w.app.state.sealer.clone().unwrap();
    let rt = domain::vault::store::refresh_token(&c, &sealer)
        .unwrap()
        .unwrap();
    let sf = w.app.state.vault.as_ref().unwrap().sf().clone();
    let login =
        domain::types::LoginUrl::parse(w.sim.base_url(), &[w.sim.host_port().to_owned()]).unwrap();
    sf.refresh(&login, &rt).await.unwrap(); // the dead worker's exchange, whose answer was lost
    crash_mid_refresh(&w).await;
    let r = domain::vault::heartbeat::sweep(&vault, 100).await.unwrap();
    assert_eq!(r.needs_reauth, 1);
    let c = connections(&w).await.remove(0);
    assert_eq!(c.status, ConnectionStatus::NeedsReauth);
    assert!(
        c.last_error
            .as_deref()
            .unwrap()
            .starts_with("rotation lost in a crash"),
        "{:?}",
        c.last_error
    );
    w.app.stop().await;
}

both_backends!(
    a_crash_mid_rotation_is_recovered_or_named_precisely,
    crashes_are_recovered_or_reported_precisely
);

async fn ambiguous_answers_get_one_probe_never_a_blind_resend(db: TestDb) {
    let (w, key) = connected(
        db,
        |_| {},
        |c| c.salesforce.http_timeout = Duration::from_millis(500),
    )
    .await;
    // 503s: Salesforce did nothing; the probe is refused too; the token is untouched.
    w.sim.set_faults(sfsim::Faults {
        error_rate: 1.0,
        ..Default::default()
    });
    advance(&w, Duration::from_secs(11));
    let (s, b) = force(&w, &key, serde_json::json!({})).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (503, Some("salesforce_unavailable"))
    );
    w.sim.set_faults(sfsim::Faults::default());
    advance(&w, Duration::from_secs(11));
    assert_eq!(
        force(&w, &key, serde_json::json!({})).await.0,
        200,
        "the token survived the 5xx"
    );

    // Rotated then dropped: the probe makes the loss explicit instead of hiding it.
    w.sim.set_faults(sfsim::Faults {
        drop_after_rotate_rate: 1.0,
        ..Default::default()
    });
    advance(&w, Duration::from_secs(11));
    let vault = w.app.state.vault.clone().unwrap();
    let c = connections(&w).await.remove(0);
    let out = vault.refresh(c.id, Trigger::Forced).await.unwrap();
    w.sim.set_faults(sfsim::Faults::default());
    assert!(
        matches!(&out, Err(VaultError::NeedsReauth { reason, .. }) if reason.starts_with("rotation lost:")),
        "{out:?}"
    );
    let st = w.sim.stats();
    assert_eq!(
        (st.dropped_responses, st.reuse_detected),
        (1, 1),
        "exactly one probe, no blind resends"
    );
    w.app.stop().await;
}

both_backends!(
    ambiguous_answers_get_one_probe_and_never_a_blind_resend,
    ambiguous_answers_get_one_probe_never_a_blind_resend
);

async fn customer_setup_refusals_keep_the_token_and_ask_the_customer(db: TestDb) {
    let (w, key) = connected(db, |_| {}, |_| {}).await;
    w.sim
        .set_app_state(ACME, "reauth-eca", sfsim::AppInstall::Blocked);
    advance(&w, Duration::from_secs(11));
    let (s, b) = force(&w, &key, serde_json::json!({})).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (409, Some("customer_action_required"))
    );
    let org = domain::registry::show(&w.db.db, &OrgId::parse(ACME).unwrap())
        .await
        .unwrap();
    assert_eq!(
        org.org.state,
        domain::registry::state::OrgState::NeedsAttention
    );
    assert_eq!(org.attention_owner.as_deref(), Some("customer"));
    assert!(org.attention_reason.unwrap().contains("unblock the app"));
    w.sim
        .set_app_state(ACME, "reauth-eca", sfsim::AppInstall::Installed);
    advance(&w, Duration::from_secs(11));
    assert_eq!(
        force(&w, &key, serde_json::json!({})).await.0,
        200,
        "once fixed, the same grant works"
    );
    w.app.stop().await;
}

both_backends!(
    customer_setup_refusals_keep_the_grant_and_ask_the_customer,
    customer_setup_refusals_keep_the_token_and_ask_the_customer
);

async fn hangs_and_rate_limits_are_retried_and_recover(db: TestDb) {
    let (w, key) = connected(
        db,
        |_| {},
        |c| c.salesforce.http_timeout = Duration::from_millis(300),
    )
    .await;
    for faults in [
        sfsim::Faults {
            hang_rate: 1.0,
            ..Default::default()
        },
        sfsim::Faults {
            rate_limit_rate: 1.0,
            ..Default::default()
        },
    ] {
        w.sim.set_faults(faults);
        advance(&w, Duration::from_secs(11));
        let (s, b) = force(&w, &key, serde_json::json!({})).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (503, Some("salesforce_unavailable")),
            "{b}"
        );
        let c = connections(&w).await.remove(0);
        assert_eq!(c.status, ConnectionStatus::Active, "the grant stands");
        assert!(
            c.next_heartbeat_at.unwrap()
                < c.last_exchange_at + chrono::Duration::hours(1) + chrono::Duration::minutes(5)
                || c.last_error_class == Some(domain::vault::ErrorClass::Transient)
        );
        w.sim.set_faults(sfsim::Faults::default());
        advance(&w, Duration::from_secs(11));
        assert_eq!(
            force(&w, &key, serde_json::json!({})).await.0,
            200,
            "recovers once Salesforce does"
        );
    }
    let st = w.sim.stats();
    assert_eq!((st.reuse_detected, st.concurrent_rejected), (0, 0));
    w.app.stop().await;
}

both_backends!(
    hangs_and_rate_limits_are_retried_and_recover,
    hangs_and_rate_limits_are_retried_and_recover
);

async fn without_rotation_the_old_refresh_token_is_kept(db: TestDb) {
    let (w, key) = connected(db, |c| c.clients[0].rotation = false, |_| {}).await;
    let sealer = w.app.state.sealer.clone().unwrap();
    let before = domain::vault::store::refresh_token(&connections(&w).await[0], &sealer)
        .unwrap()
        .unwrap();
    for _ in 0..3 {
        advance(&w, Duration::from_secs(11));
        assert_eq!(force(&w, &key, serde_json::json!({})).await.0, 200);
    }
    let after = domain::vault::store::refresh_token(&connections(&w).await[0], &sealer)
        .unwrap()
        .unwrap();
    assert_eq!(
        after.expose_secret(),
        before.expose_secret(),
        "an answer without refresh_token keeps the stored one"
    );
    assert_eq!(w.sim.stats().refresh_ok, 3);
    w.app.stop().await;
}

both_backends!(
    without_rotation_the_stored_refresh_token_is_kept,
    without_rotation_the_old_refresh_token_is_kept
);
