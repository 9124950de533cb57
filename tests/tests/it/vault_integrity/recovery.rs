//! A stalled database, a consent during a refresh, retried verifications, strict OpenID Connect
//! providers and nonces.

use super::*;

/// Defect 3: one process's pool exhausted (a flood of API calls) for longer than the lease while
/// its refresh waits to store a rotated token, and another process sweeping for dead leases all
/// along. The holder's lease writes have a pool of their own, so the lease stays alive, the
/// token is stored, and the other process never recovers the row with the old token.
async fn persist_outlasts_a_stalled_database(db: TestDb) {
    let (w, ids) = many(db, 1, |_| {}).await;
    let opts = VaultOptions {
        lease: Duration::from_secs(3),
        ..Default::default()
    };
    let a = vaults(&w, 1, opts).remove(0);
    // The other process: its own pools, sweeping for expired leases every 200 ms.
    let other_db = domain::db::connect(&w.db.url).await.unwrap();
    let state = &w.app.state;
    let b = Vault::with_options(
        other_db,
        state.vault.as_ref().unwrap().sf().clone(),
        state.sealer.clone().unwrap(),
        state.config.clone(),
        state.clock.clone(),
        "other-process",
        opts,
    );
    w.sim.set_faults(sfsim::Faults {
        latency: Some(Duration::from_millis(300)),
        ..Default::default()
    });
    let refresh = {
        let a = a.clone();
        let id = ids[0];
        tokio::spawn(async move { a.refresh(id, Trigger::Forced).await })
    };
    loop {
        let c = connections(&w).await.remove(0);
        if c.status == ConnectionStatus::Refreshing {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Every connection of A's ordinary pool is taken.
    let mut held = Vec::new();
    while let Ok(Ok(t)) = tokio::time::timeout(Duration::from_millis(300), w.db.db.begin()).await {
        held.push(t);
    }
    assert!(!held.is_empty(), "the pool is exhausted");
    let sweeping = {
        let b = b.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            while started.elapsed() < Duration::from_secs(9) {
                domain::vault::heartbeat::sweep(&b, 10).await.unwrap();
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    // Three leases' worth of stall.
    sweeping.await.unwrap();
    drop(held);
    let answer = refresh.await.unwrap().unwrap();
    assert!(answer.is_ok(), "{answer:?}");
    w.sim.set_faults(sfsim::Faults::default());
    let st = w.sim.stats();
    assert_eq!((st.refresh_ok, st.reuse_detected), (1, 0), "{st:?}");
    let c = connections(&w).await.remove(0);
    assert_eq!(c.status, ConnectionStatus::Active);
    // The stored token is the rotated one.
    advance(&w, Duration::from_secs(11));
    assert!(b.refresh(ids[0], Trigger::Forced).await.unwrap().is_ok());
    assert_eq!(w.sim.stats().reuse_detected, 0);
    w.app.stop().await;
}

both_backends!(
    a_pool_stalled_longer_than_the_lease_during_a_persist_costs_no_token,
    persist_outlasts_a_stalled_database
);

/// Defect 5: a consent completing while the old connection is mid-refresh leaves exactly one
/// live grant at Salesforce.
async fn consent_during_a_refresh_leaves_one_live_grant(db: TestDb) {
    let (w, _proxy) = proxied_world(
        db,
        |_| {},
        |c| c.salesforce.http_timeout = Duration::from_millis(800),
    )
    .await;
    let _key = consent(&w).await;
    let old = connections(&w).await.remove(0);
    advance(&w, Duration::from_secs(11));
    // The old connection's refresh hangs at Salesforce (and is probed after the time-out).
    w.sim.set_faults(sfsim::Faults {
        hang_rate: 1.0,
        ..Default::default()
    });
    let vault = w.app.state.vault.clone().unwrap();
    let refresh = tokio::spawn({
        let v = vault.clone();
        async move { v.refresh(old.id, Trigger::Forced).await }
    });
    loop {
        let c = domain::entity::connection::Entity::find_by_id(old.id)
            .one(&w.db.db)
            .await
            .unwrap()
            .unwrap();
        if c.status == ConnectionStatus::Refreshing {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    w.sim.set_faults(sfsim::Faults::default());
    // The admin consents again meanwhile.
    let secret = new_link(&w, ACME).await;
    let auth = start(&w, &secret).await;
    let cb = authorize_as(auth, "admin@acme.com").await;
    assert_eq!(callback(&w, &cb).await.0, 200);
    refresh.await.unwrap().unwrap().ok();
    let conns = connections(&w).await;
    let statuses: Vec<_> = conns.iter().map(|c| (c.id, c.status)).collect();
    assert_eq!(
        conns
            .iter()
            .filter(|c| c.status == ConnectionStatus::Active)
            .count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        conns.iter().find(|c| c.id == old.id).unwrap().status,
        ConnectionStatus::Superseded
    );
    let live: Vec<_> = w.sim.grants().into_iter().filter(|g| !g.revoked).collect();
    assert_eq!(
        live.len(),
        1,
        "exactly one live grant at Salesforce: {live:?}"
    );
    assert_eq!(w.sim.stats().reuse_detected, 0);
    w.app.stop().await;
}

both_backends!(
    a_consent_while_the_old_connection_is_refreshing_leaves_exactly_one_live_grant,
    consent_during_a_refresh_leaves_one_live_grant
);

/// Defect 6: a verification that fails twice is retried on its schedule and succeeds without
/// anyone clicking; the connection is heartbeated meanwhile.
async fn failed_verifications_are_retried_until_verified(db: TestDb) {
    let (w, proxy) = proxied_world(db, |_| {}, |_| {}).await;
    proxy.fail_identity(2);
    let secret = new_link(&w, ACME).await;
    let auth = start(&w, &secret).await;
    let cb = authorize_as(auth, "admin@acme.com").await;
    assert_eq!(callback(&w, &cb).await.0, 200);
    let c = connections(&w).await.remove(0);
    assert_eq!(
        (c.status, c.verify_attempts),
        (ConnectionStatus::Verifying, 1)
    );
    let vault = w.app.state.vault.clone().unwrap();
    let flow = domain::reconsent::Flow {
        db: &w.db.db,
        vault: &vault,
        config: &w.app.state.config,
    };
    let now = || w.app.state.clock.now();
    // Not due yet.
    let r = domain::reconsent::verify_due(&flow, now(), 10)
        .await
        .unwrap();
    assert_eq!((r.verified, r.failed), (0, 0));
    advance(&w, Duration::from_secs(61));
    let r = domain::reconsent::verify_due(&flow, now(), 10)
        .await
        .unwrap();
    assert_eq!((r.verified, r.failed), (0, 1));
    // A waiting connection holds a real refresh token: the heartbeat keeps it alive.
    w.db.db
        .execute_unprepared("UPDATE connections SET next_heartbeat_at = created_at")
        .await
        .unwrap();
    let hb = domain::vault::heartbeat::sweep(&vault, 10).await.unwrap();
    assert_eq!(hb.refreshed, 1, "{hb:?}");
    assert_eq!(
        connections(&w).await[0].status,
        ConnectionStatus::Verifying,
        "a heartbeat does not promote"
    );
    advance(&w, Duration::from_secs(5 * 60 + 1));
    let r = domain::reconsent::verify_due(&flow, now(), 10)
        .await
        .unwrap();
    assert_eq!((r.verified, r.failed), (1, 0));
    let c = connections(&w).await.remove(0);
    assert_eq!(c.status, ConnectionStatus::Active);
    let org = domain::registry::show(&w.db.db, &domain::types::OrgId::parse(ACME).unwrap())
        .await
        .unwrap();
    assert_eq!(org.org.state, domain::registry::state::OrgState::Verified);
    assert_eq!(w.sim.stats().reuse_detected, 0);
    w.app.stop().await;
}

both_backends!(
    a_verification_failing_twice_then_succeeding_is_verified_without_a_click,
    failed_verifications_are_retried_until_verified
);

/// Defect 8: a strict OpenID Connect provider refuses `nonce` without `openid`; reauth sends the
/// nonce only with `openid`, and then checks it in the ID token.
async fn strict_oidc_providers_accept_the_authorize_request(db: TestDb) {
    let (w, _proxy) = proxied_world(db, |s| s.settings.oidc_strict = true, |_| {}).await;
    let secret = new_link(&w, ACME).await;
    let auth = start(&w, &secret).await;
    assert!(
        !auth.query_pairs().any(|(k, _)| k == "nonce"),
        "no nonce without openid"
    );
    let cb = authorize_as(auth, "admin@acme.com").await;
    assert!(!cb.contains("error="), "{cb}");
    assert_eq!(callback(&w, &cb).await.0, 200);
    assert_eq!(
        connections(&w).await[0].status,
        ConnectionStatus::Active,
        "consented and verified"
    );
    w.app.stop().await;
}

both_backends!(
    an_oidc_strict_provider_accepts_reauths_authorize_request,
    strict_oidc_providers_accept_the_authorize_request
);

async fn id_token_nonces_are_checked(db: TestDb) {
    let (w, proxy) = proxied_world(
        db,
        |s| s.settings.oidc_strict = true,
        |c| {
            c.salesforce.scopes = vec!["api".into(), "refresh_token".into(), "openid".into()];
        },
    )
    .await;
    let secret = new_link(&w, ACME).await;
    let auth = start(&w, &secret).await;
    assert!(auth.query_pairs().any(|(k, _)| k == "nonce"));
    let cb = authorize_as(auth, "admin@acme.com").await;
    assert_eq!(
        callback(&w, &cb).await.0,
        200,
        "the ID token's nonce matches"
    );
    assert_eq!(connections(&w).await.len(), 1);
    // An ID token for another sign-in's nonce: refused and its grant revoked.
    proxy.set(Tamper::WrongNonce);
    let secret = new_link(&w, ACME).await;
    let auth = start(&w, &secret).await;
    let cb = authorize_as(auth, "admin@acme.com").await;
    let (status, _) = callback(&w, &cb).await;
    assert_ne!(status, 200);
    assert_eq!(connections(&w).await.len(), 1, "nothing kept");
    let live = w.sim.grants().into_iter().filter(|g| !g.revoked).count();
    assert_eq!(live, 1, "the refused grant was revoked");
    w.app.stop().await;
}

both_backends!(
    an_id_token_for_another_sign_in_is_refused_and_revoked,
    id_token_nonces_are_checked
);
