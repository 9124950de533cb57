//! The heartbeat's grouped claim (`Leases::claim_due`): one statement for many rows, with the
//! same fence as a single claim on each row.

use super::*;
use domain::entity::connection;

/// Of five rows read as due, the grouped claim takes exactly the two still as read: not the one
/// whose version moved, not the one another process leased, not the one no longer due; the two
/// it takes are marked `refreshing` (write-ahead) with their resting status, one version on.
async fn grouped_claim_takes_only_rows_still_as_read_unleased_and_due(db: TestDb) {
    let (w, read) = all_due(db, 5).await;
    let db = &w.db.db;
    let (moved, leased, not_due) = (read[0].id, read[1].id, read[2].id);
    db.execute_unprepared(&format!(
        "UPDATE connections SET version = version + 1 WHERE id = {moved}"
    ))
    .await
    .unwrap();
    let vs = vaults(&w, 2, VaultOptions::default());
    let other = vs[1].leases();
    let held = other
        .claim(&read[1], domain::vault::lease::Purpose::Admin, false)
        .await
        .unwrap();
    assert!(matches!(held, domain::vault::lease::Claim::Taken(_)));
    // No longer due, version unchanged: only the claim's own due check can tell.
    db.execute_unprepared(&format!(
        "UPDATE connections SET next_heartbeat_at = '2999-01-01 00:00:00+00:00' WHERE id = {not_due}"
    ))
    .await
    .unwrap();

    let refs: Vec<&connection::Model> = read.iter().collect();
    let mut taken = vs[0].leases().claim_due(&refs).await.unwrap();
    taken.sort_by_key(|l| l.id);

    let taken_ids: Vec<i64> = taken.iter().map(|l| l.id).collect();
    assert_eq!(taken_ids, vec![read[3].id, read[4].id]);
    for (lease, before) in taken.iter().zip(&read[3..]) {
        assert_eq!(lease.version, before.version + 1);
        assert_eq!(lease.resting, ConnectionStatus::Active);
        let now = connection::Entity::find_by_id(lease.id)
            .one(db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(now.status, ConnectionStatus::Refreshing);
        assert_eq!(now.rests_as, Some(ConnectionStatus::Active));
        assert_eq!(now.version, before.version + 1);
        assert_eq!(now.lease_owner.as_deref(), Some("worker-0"));
        assert!(now.refresh_started_at.is_some());
    }
    for id in [moved, leased, not_due] {
        let now = connection::Entity::find_by_id(id)
            .one(db)
            .await
            .unwrap()
            .unwrap();
        assert_ne!(now.status, ConnectionStatus::Refreshing, "row {id}");
        assert_ne!(now.lease_owner.as_deref(), Some("worker-0"), "row {id}");
    }
    w.app.stop().await;
}

both_backends!(
    a_grouped_heartbeat_claim_takes_only_rows_still_as_read_unleased_and_due,
    grouped_claim_takes_only_rows_still_as_read_unleased_and_due
);
