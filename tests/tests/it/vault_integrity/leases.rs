//! Several vaults at once: each due connection exchanged once; key rotation never races a refresh
//! and leaves a leased row to its holder.

use super::*;

/// Defect 7: overlapping sweeps (four workers over the same due page) exchange each connection
/// exactly once.
async fn four_sweeps_exchange_each_due_connection_once(db: TestDb) {
    let (w, ids) = many(db, 1000, |c| c.heartbeat.concurrency = 32).await;
    w.db.db
        .execute_unprepared("UPDATE connections SET next_heartbeat_at = created_at")
        .await
        .unwrap();
    let vs = vaults(&w, 4, VaultOptions::default());
    let sweeps = vs
        .iter()
        .map(|v| domain::vault::heartbeat::sweep(v, 10_000));
    let reports = futures::future::join_all(sweeps).await;
    let refreshed: usize = reports.iter().map(|r| r.as_ref().unwrap().refreshed).sum();
    let st = w.sim.stats();
    assert_eq!(
        st.refresh_ok,
        ids.len() as u64,
        "exactly one exchange per connection: {reports:?}"
    );
    assert_eq!(refreshed, ids.len());
    assert_eq!((st.reuse_detected, st.concurrent_rejected), (0, 0));
    w.app.stop().await;
}

both_backends!(
    four_workers_sweeping_a_thousand_due_connections_exchange_each_once,
    four_sweeps_exchange_each_due_connection_once
);

/// Defect 2: `keys rotate` running in a loop while eight workers heartbeat two hundred
/// connections loses nothing: no reuse at sfsim, every connection alive.
async fn key_rotation_never_races_a_refresh(db: TestDb) {
    let k1 = domain::security::crypto::Sealer::generate_key("k1");
    let k2 = domain::security::crypto::Sealer::generate_key("k2");
    let keys = vec![k1.clone(), k2.clone()];
    let (w, ids) = many(db, 200, |c| {
        c.crypto.keys = keys.clone();
        c.heartbeat.concurrency = 16;
        c.heartbeat.per_instance = 16;
    })
    .await;
    w.sim.set_faults(sfsim::Faults {
        latency: Some(Duration::from_millis(20)),
        jitter: Some(Duration::from_millis(40)),
        ..Default::default()
    });
    // Rotation alternates the newest key, so every pass finds rows to re-seal (the vaults keep
    // sealing under k2).
    let to_k1 = domain::security::crypto::Sealer::from_config(&domain::config::CryptoConfig {
        keys: vec![k2.clone(), k1.clone()],
        key_file: None,
        ..Default::default()
    })
    .unwrap();
    let to_k2 = domain::security::crypto::Sealer::from_config(&domain::config::CryptoConfig {
        keys: vec![k1, k2],
        key_file: None,
        ..Default::default()
    })
    .unwrap();
    let vs = vaults(&w, 8, VaultOptions::default());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let rotations = {
        let (db, stop) = (w.db.db.clone(), stop.clone());
        tokio::spawn(async move {
            let mut total = domain::security::keys::RotationReport::default();
            let mut runs = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let s = if runs.is_multiple_of(2) {
                    &to_k1
                } else {
                    &to_k2
                };
                let r = domain::security::keys::rotate(&db, s).await.unwrap();
                total.connections += r.connections;
                total.raced += r.raced;
                total.left_leased += r.left_leased;
                runs += 1;
            }
            (runs, total)
        })
    };
    const ROUNDS: u64 = 3;
    for _ in 0..ROUNDS {
        w.db.db
            .execute_unprepared("UPDATE connections SET next_heartbeat_at = created_at")
            .await
            .unwrap();
        let sweeps = vs
            .iter()
            .map(|v| domain::vault::heartbeat::sweep(v, 10_000));
        for r in futures::future::join_all(sweeps).await {
            assert_eq!(r.unwrap().errors, 0);
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (runs, total) = rotations.await.unwrap();
    let st = w.sim.stats();
    // Rotation and refreshes really overlapped: rows were re-sealed between refreshes, and some
    // were found under a lease or changed under rotation's feet.
    assert!(
        runs >= 1 && total.connections > 0 && total.raced + total.left_leased > 0,
        "{runs} {total:?}"
    );
    assert_eq!(
        st.refresh_ok,
        ROUNDS * ids.len() as u64,
        "each round refreshed each connection exactly once: {st:?}"
    );
    assert_eq!(
        (st.reuse_detected, st.grants_revoked_for_reuse),
        (0, 0),
        "{st:?}"
    );
    assert_eq!(
        alerts_of(&w, "vault.lease_lost").await,
        0,
        "rotation never took a row from under a lease holder"
    );
    let conns = connections(&w).await;
    assert!(
        conns.iter().all(|c| c.status == ConnectionStatus::Active),
        "{:?}",
        conns.iter().find(|c| c.status != ConnectionStatus::Active)
    );
    // Every stored token is alive at Salesforce.
    for id in ids {
        assert!(vs[0].refresh(id, Trigger::Forced).await.unwrap().is_ok());
    }
    assert_eq!(w.sim.stats().reuse_detected, 0);
    w.app.stop().await;
}

both_backends!(
    keys_rotate_in_a_loop_while_eight_workers_heartbeat_loses_no_token,
    key_rotation_never_races_a_refresh
);

/// Defect 2, the race itself: a rotation that meets a row under a refresh's lease leaves it (and
/// its fence) alone, so the holder's write lands; the row is re-sealed on a later run.
async fn rotation_leaves_a_leased_row_to_its_holder(db: TestDb) {
    let k1 = domain::security::crypto::Sealer::generate_key("k1");
    let k2 = domain::security::crypto::Sealer::generate_key("k2");
    let (w, ids) = many(db, 1, |c| c.crypto.keys = vec![k1.clone()]).await;
    let v = w.app.state.vault.clone().unwrap();
    let row = connections(&w).await.remove(0);
    let domain::vault::lease::Claim::Taken(lease) = v
        .leases()
        .claim(&row, domain::vault::lease::Purpose::Exchange, false)
        .await
        .unwrap()
    else {
        panic!("the lease is free");
    };
    let both = domain::security::crypto::Sealer::from_config(&domain::config::CryptoConfig {
        keys: vec![k1, k2],
        key_file: None,
        ..Default::default()
    })
    .unwrap();
    let report = domain::security::keys::rotate(&w.db.db, &both)
        .await
        .unwrap();
    assert_eq!(
        (report.connections, report.left_leased),
        (0, 1),
        "{report:?}"
    );
    // The holder stores what its exchange returned: its fence still matches.
    let sealer = v.sealer();
    let rt = secrecy::SecretString::from("5Aep861-rotated".to_owned());
    let at = secrecy::SecretString::from("00D!at".to_owned());
    let stored = v
        .leases()
        .persist(
            &lease,
            &domain::vault::lease::Persist {
                refresh_token: sealer
                    .seal_str(&rt, &domain::vault::store::aad(row.id, "refresh_token")),
                access_token: Some(
                    sealer.seal_str(&at, &domain::vault::store::aad(row.id, "access_token")),
                ),
                instance_url: row.instance_url.clone(),
                anomaly: None,
                next_heartbeat_at: chrono::Utc::now() + chrono::Duration::days(25),
                now: chrono::Utc::now(),
                status: None,
                event: None,
            },
        )
        .await
        .unwrap();
    assert!(
        stored,
        "the lease holder's write lands after a rotation ran"
    );
    // Free again, the row is re-sealed on the next run, and the token is the holder's.
    let report = domain::security::keys::rotate(&w.db.db, &both)
        .await
        .unwrap();
    assert_eq!(report.connections, 1);
    let after = connections(&w).await.remove(0);
    assert_eq!(after.key_id.as_deref(), Some("k2"));
    let token = domain::vault::store::refresh_token(&after, &both)
        .unwrap()
        .unwrap();
    assert_eq!(token.expose_secret(), "5Aep861-rotated");
    let _ = ids;
    w.app.stop().await;
}

both_backends!(
    keys_rotate_leaves_a_row_under_a_refresh_lease_to_its_holder,
    rotation_leaves_a_leased_row_to_its_holder
);
