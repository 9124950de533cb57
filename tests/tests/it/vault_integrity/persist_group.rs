//! Persists grouped in one transaction (`Leases::persist_all`): each row's UPDATE keeps its own
//! fence, so a lease lost in the group is reported as not landed and writes nothing, while the
//! others land.

use super::*;
use domain::entity::connection;
use domain::security::crypto::Sealed;
use domain::vault::lease::Persist;

/// Four rows claimed by one heartbeat; one of them is recovered by someone else (its version
/// moves) before the group's commit. The group stores the three still leased — new token, lease
/// ended, one version on — and leaves the fourth exactly as the other holder left it.
async fn grouped_persist_lands_every_row_still_leased_and_no_other(db: TestDb) {
    let (w, read) = all_due(db, 4).await;
    let db = &w.db.db;
    let vs = vaults(&w, 1, VaultOptions::default());
    let refs: Vec<&connection::Model> = read.iter().collect();
    let mut leases = vs[0].leases().claim_due(&refs).await.unwrap();
    leases.sort_by_key(|l| l.id);
    assert_eq!(leases.len(), 4);
    let lost = read[1].id;
    db.execute_unprepared(&format!(
        "UPDATE connections SET version = version + 1, lease_owner = 'someone-else' WHERE id = {lost}"
    ))
    .await
    .unwrap();

    let now = chrono::Utc::now();
    let items: Vec<_> = leases
        .iter()
        .zip(&read)
        .enumerate()
        .map(|(i, (lease, row))| {
            let p = Persist {
                refresh_token: Sealed {
                    key_id: "k1".into(),
                    bytes: vec![i as u8 + 1; 44],
                },
                // One row with an access token and an anomaly, the others with neither.
                access_token: (i == 2).then(|| Sealed {
                    key_id: "k1".into(),
                    bytes: vec![9; 30],
                }),
                instance_url: row.instance_url.clone(),
                anomaly: (i == 2).then(|| "odd answer".to_owned()),
                next_heartbeat_at: now + chrono::Duration::days(25),
                now,
                status: None,
            };
            (lease.clone(), p)
        })
        .collect();
    let landed = vs[0].leases().persist_all(&items).await.unwrap();
    assert_eq!(landed, vec![true, false, true, true]);

    for (i, (lease, before)) in leases.iter().zip(&read).enumerate() {
        let now_row = connection::Entity::find_by_id(lease.id)
            .one(db)
            .await
            .unwrap()
            .unwrap();
        if lease.id == lost {
            assert_eq!(now_row.refresh_token_ct, before.refresh_token_ct);
            assert_eq!(now_row.lease_owner.as_deref(), Some("someone-else"));
            assert_eq!(now_row.version, before.version + 2);
        } else {
            assert_eq!(
                now_row.refresh_token_ct,
                Some(vec![i as u8 + 1; 44]),
                "row {i}"
            );
            assert_eq!(now_row.lease_owner, None, "row {i}");
            assert_eq!(now_row.lease_expires_at, None, "row {i}");
            assert_eq!(now_row.status, ConnectionStatus::Active, "row {i}");
            assert_eq!(
                now_row.version,
                before.version + 2,
                "row {i}: claim and persist"
            );
        }
    }
    w.app.stop().await;
}

both_backends!(
    a_grouped_persist_lands_every_row_still_leased_and_no_other,
    grouped_persist_lands_every_row_still_leased_and_no_other
);

/// The same lease twice in one group (the queue never makes one, but nothing may depend on
/// that): the first lands, the second finds the row moved — never two answers of "landed" for
/// one write.
async fn a_row_named_twice_in_a_group_lands_once(db: TestDb) {
    let (w, read) = all_due(db, 1).await;
    let vs = vaults(&w, 1, VaultOptions::default());
    let leases = vs[0].leases().claim_due(&[&read[0]]).await.unwrap();
    assert_eq!(leases.len(), 1);
    let now = chrono::Utc::now();
    let persist = |n: u8| Persist {
        refresh_token: Sealed {
            key_id: "k1".into(),
            bytes: vec![n; 44],
        },
        access_token: None,
        instance_url: read[0].instance_url.clone(),
        anomaly: None,
        next_heartbeat_at: now + chrono::Duration::days(25),
        now,
        status: None,
    };
    let items = vec![
        (leases[0].clone(), persist(1)),
        (leases[0].clone(), persist(2)),
    ];
    let landed = vs[0].leases().persist_all(&items).await.unwrap();
    assert_eq!(landed, vec![true, false]);
    let row = connection::Entity::find_by_id(read[0].id)
        .one(&w.db.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.refresh_token_ct, Some(vec![1; 44]));
    assert_eq!(row.version, read[0].version + 2);
    w.app.stop().await;
}

both_backends!(
    a_row_named_twice_in_a_persist_group_lands_once,
    a_row_named_twice_in_a_group_lands_once
);
