//! Persists, alone and grouped (`Leases::persist`, `Leases::persist_all`): each row keeps its
//! own fence, so a lease lost in the group is reported as not landed and writes nothing — no
//! token, no event — while the others land with their events; a grouped row and its event are
//! stored exactly as a single persist stores them; and a token and its event share one commit.

use super::*;
use domain::entity::{connection, event};
use domain::security::crypto::Sealed;
use domain::vault::lease::{Persist, RefreshedEvent};
use sea_orm::{ColumnTrait as _, QueryFilter as _, QueryOrder as _};

/// What a refresh of `row` stores: a refresh token of `fill` bytes, its `connection.refreshed`
/// event (its details name `fill`) and, with `answer_extras`, an access token and an anomaly.
fn persist(
    row: &connection::Model,
    fill: u8,
    answer_extras: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Persist {
    let sealed = |bytes| Sealed {
        key_id: "k1".into(),
        bytes,
    };
    Persist {
        refresh_token: sealed(vec![fill; 44]),
        access_token: answer_extras.then(|| sealed(vec![9; 30])),
        instance_url: row.instance_url.clone(),
        anomaly: answer_extras.then(|| "odd answer".to_owned()),
        next_heartbeat_at: now + chrono::Duration::days(25),
        now,
        status: None,
        event: Some(RefreshedEvent {
            org_id: row.org_id.clone(),
            details: serde_json::json!({ "connection_id": row.id, "fill": fill }),
        }),
    }
}

/// `n` due rows, read, and all of them claimed by one vault's heartbeat (leases in id order).
async fn claimed(
    db: TestDb,
    n: usize,
) -> (
    World,
    Vec<connection::Model>,
    Vec<Vault>,
    Vec<domain::vault::lease::Lease>,
) {
    let (w, read) = all_due(db, n).await;
    let vs = vaults(&w, 1, VaultOptions::default());
    let refs: Vec<&connection::Model> = read.iter().collect();
    let mut leases = vs[0].leases().claim_due(&refs).await.unwrap();
    leases.sort_by_key(|l| l.id);
    assert_eq!(leases.len(), n);
    (w, read, vs, leases)
}

/// The `connection.refreshed` events of connection `id`, oldest first.
async fn refreshed_events(db: &sea_orm::DatabaseConnection, id: i64) -> Vec<event::Model> {
    event::Entity::find()
        .filter(event::Column::Kind.eq("connection.refreshed"))
        .order_by_asc(event::Column::Id)
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.details["connection_id"] == id)
        .collect()
}

/// Four rows claimed by one heartbeat; one of them is recovered by someone else (its version
/// moves) before the group's commit. The group stores the three still leased — new token, lease
/// ended, one version on — and leaves the fourth exactly as the other holder left it.
async fn grouped_persist_lands_every_row_still_leased_and_no_other(db: TestDb) {
    let (w, read, vs, leases) = claimed(db, 4).await;
    let db = &w.db.db;
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
        // One row with an access token and an anomaly, the others with neither.
        .map(|(i, (lease, row))| (lease.clone(), persist(row, i as u8 + 1, i == 2, now)))
        .collect();
    let landed = vs[0].leases().persist_all(&items).await.unwrap();
    assert_eq!(landed, vec![true, false, true, true]);

    for (i, (lease, before)) in leases.iter().zip(&read).enumerate() {
        let now_row = connection::Entity::find_by_id(lease.id)
            .one(db)
            .await
            .unwrap()
            .unwrap();
        let events = refreshed_events(db, lease.id).await;
        if lease.id == lost {
            assert_eq!(now_row.refresh_token_ct, before.refresh_token_ct);
            assert_eq!(now_row.lease_owner.as_deref(), Some("someone-else"));
            assert_eq!(now_row.version, before.version + 2);
            assert!(
                events.is_empty(),
                "no event for a row fenced out: {events:?}"
            );
        } else {
            assert_eq!(events.len(), 1, "row {i}: one event, {events:?}");
            assert_eq!(events[0].details["fill"], i + 1, "row {i}");
            assert_eq!(events[0].org_id.as_ref(), Some(&before.org_id), "row {i}");
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
    let (w, read, vs, leases) = claimed(db, 1).await;
    let now = chrono::Utc::now();
    let items = vec![
        (leases[0].clone(), persist(&read[0], 1, false, now)),
        (leases[0].clone(), persist(&read[0], 2, false, now)),
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

/// A row stored by a group is exactly the row a single persist stores — every column — so the
/// group's own statement (PostgreSQL's `UPDATE … FROM VALUES` lists the columns again) cannot
/// drift from `Leases::persist`.
async fn a_grouped_persist_writes_what_a_single_persist_writes(db: TestDb) {
    let (w, read, vs, mut leases) = claimed(db, 3).await;
    let db = &w.db.db;
    let now = chrono::Utc::now();
    for extras in [false, true] {
        if extras {
            db.execute_unprepared("UPDATE connections SET next_heartbeat_at = created_at")
                .await
                .unwrap();
            let again: Vec<connection::Model> = connection::Entity::find().all(db).await.unwrap();
            let refs: Vec<&connection::Model> = again.iter().collect();
            leases = vs[0].leases().claim_due(&refs).await.unwrap();
            leases.sort_by_key(|l| l.id);
        }
        assert_eq!(leases.len(), 3);
        let alone = vs[0]
            .leases()
            .persist(&leases[0], &persist(&read[0], 7, extras, now))
            .await
            .unwrap();
        assert!(alone);
        let items: Vec<_> = leases[1..]
            .iter()
            .zip(&read[1..])
            .map(|(l, r)| (l.clone(), persist(r, 7, extras, now)))
            .collect();
        assert_eq!(
            vs[0].leases().persist_all(&items).await.unwrap(),
            vec![true, true]
        );

        let mut rows = connection::Entity::find().all(db).await.unwrap();
        rows.sort_by_key(|c| c.id);
        let single = &rows[0];
        for grouped in &rows[1..] {
            // The columns that name the connection differ; every other one must not.
            let mut same = grouped.clone();
            same.id = single.id;
            same.org_id = single.org_id.clone();
            same.id_url = single.id_url.clone();
            same.sf_user_id = single.sf_user_id.clone();
            same.sf_username = single.sf_username.clone();
            same.issued_at = single.issued_at;
            same.created_at = single.created_at;
            same.refresh_started_at = single.refresh_started_at;
            assert!(
                same == *single,
                "extras {extras}: grouped {grouped:?} against single {single:?}"
            );
            // And its event: the same but for the row it names.
            let (one, other) = (
                refreshed_events(db, single.id).await,
                refreshed_events(db, grouped.id).await,
            );
            let (one, mut other) = (one.last().unwrap(), other.last().unwrap().clone());
            assert_eq!(other.details["connection_id"], grouped.id);
            other.details["connection_id"] = one.details["connection_id"].clone();
            other.id = one.id;
            other.org_id = one.org_id.clone();
            assert_eq!(other, *one, "extras {extras}");
            // At the persist's time (PostgreSQL keeps microseconds).
            assert!(
                (one.at - now).abs() < chrono::Duration::milliseconds(1),
                "{}",
                one.at
            );
            assert_eq!(one.actor_kind, "system");
        }
    }
    w.app.stop().await;
}

both_backends!(
    a_grouped_persist_writes_every_column_a_single_persist_writes,
    a_grouped_persist_writes_what_a_single_persist_writes
);

/// A persist whose event cannot be written stores nothing: the token, the lease's end and the
/// event are one commit, alone and grouped. (A trigger refuses the event's INSERT; before the
/// event moved into the persist's commit, the token landed and the event was lost.)
async fn token_and_event_share_one_commit(db: TestDb) {
    let (w, read, vs, leases) = claimed(db, 3).await;
    let db = &w.db.db;
    let refuse = match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => vec![
            "CREATE FUNCTION refuse_event() RETURNS trigger AS $$ BEGIN \
             RAISE EXCEPTION 'events refused'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse_event()",
        ],
        _ => vec![
            "CREATE TRIGGER refuse BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'events refused'); END",
        ],
    };
    for sql in refuse {
        db.execute_unprepared(sql).await.unwrap();
    }
    let now = chrono::Utc::now();
    let alone = vs[0]
        .leases()
        .persist(&leases[0], &persist(&read[0], 7, true, now))
        .await;
    assert!(alone.is_err(), "{alone:?}");
    let items: Vec<_> = leases[1..]
        .iter()
        .zip(&read[1..])
        .map(|(l, r)| (l.clone(), persist(r, 7, true, now)))
        .collect();
    let grouped = vs[0].leases().persist_all(&items).await;
    assert!(grouped.is_err(), "{grouped:?}");
    for (lease, before) in leases.iter().zip(&read) {
        let row = connection::Entity::find_by_id(lease.id)
            .one(db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.refresh_token_ct, before.refresh_token_ct, "token kept");
        assert_eq!(row.version, lease.version, "the lease still ours");
        assert_eq!(row.status, ConnectionStatus::Refreshing);
    }
    // Once events can be written, the same lease's persist lands with its event.
    let drop = match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => "DROP TRIGGER refuse ON events",
        _ => "DROP TRIGGER refuse",
    };
    db.execute_unprepared(drop).await.unwrap();
    let landed = vs[0]
        .leases()
        .persist(&leases[0], &persist(&read[0], 7, true, now))
        .await
        .unwrap();
    assert!(landed);
    assert_eq!(refreshed_events(db, leases[0].id).await.len(), 1);
    w.app.stop().await;
}

both_backends!(
    a_token_and_its_event_are_stored_together_or_not_at_all,
    token_and_event_share_one_commit
);
