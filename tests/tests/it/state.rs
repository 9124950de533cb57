//! The org state machine writes its event in the same transaction as the change.

use domain::events::{Actor, EventFilter};
use domain::registry::state::{Change, OrgState, Outcome, apply};
use domain::types::OrgId;
use reauth_tests::{TestDb, both_backends};

async fn import_one(db: &TestDb) -> OrgId {
    let csv = "org_id,name,admin_email\n00D4c0000008cs2,Acme,admin@acme.com\n";
    reauth_tests::import_csv(&db.db, csv).await;
    OrgId::parse("00D4c0000008cs2").unwrap()
}

async fn transitions_write_events_and_never_move_back(db: TestDb) {
    let id = import_one(&db).await;
    let now = chrono::Utc::now();
    let staff = Actor::Staff("cs@partner.example".into());
    assert_eq!(
        apply(
            &db.db,
            &id,
            Change::Advance(OrgState::Consented),
            &staff,
            now
        )
        .await
        .unwrap(),
        Outcome::Changed {
            from: OrgState::Pending,
            to: OrgState::Consented
        }
    );
    assert_eq!(
        apply(
            &db.db,
            &id,
            Change::Advance(OrgState::Opened),
            &Actor::System,
            now
        )
        .await
        .unwrap(),
        Outcome::Unchanged(OrgState::Consented)
    );
    let attention = Change::NeedsAttention {
        reason: "verification failed: INVALID_SESSION_ID".into(),
        owner: "partner".into(),
    };
    apply(&db.db, &id, attention, &Actor::System, now)
        .await
        .unwrap();
    let detail = domain::registry::show(&db.db, &id).await.unwrap();
    assert_eq!(detail.org.state, OrgState::NeedsAttention);
    assert_eq!(detail.attention_owner.as_deref(), Some("partner"));
    apply(&db.db, &id, Change::Resume, &staff, now)
        .await
        .unwrap();
    assert!(
        apply(&db.db, &id, Change::Resume, &staff, now)
            .await
            .is_err(),
        "resume outside needs_attention is refused"
    );

    let events = domain::events::list(
        &db.db,
        &EventFilter {
            org: Some(id.clone()),
            kind: Some("org.state_changed".into()),
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let moves: Vec<(String, String)> = events
        .iter()
        .rev()
        .map(|e| {
            (
                e.details["from"].as_str().unwrap().to_owned(),
                e.details["to"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        moves,
        [
            ("pending", "consented"),
            ("consented", "needs_attention"),
            ("needs_attention", "consented")
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    assert_eq!(
        events.last().unwrap().actor.as_deref(),
        Some("cs@partner.example")
    );
}

both_backends!(
    state_changes_write_events_in_the_same_transaction,
    transitions_write_events_and_never_move_back
);

async fn unknown_org_is_an_error_and_writes_nothing(db: TestDb) {
    let id = OrgId::parse("00D000000000009").unwrap();
    let err = apply(
        &db.db,
        &id,
        Change::Advance(OrgState::Notified),
        &Actor::System,
        chrono::Utc::now(),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("unknown org 00D000000000009"),
        "{err}"
    );
    assert!(
        domain::events::list(&db.db, &EventFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
}

both_backends!(
    changing_an_unknown_org_fails_cleanly,
    unknown_org_is_an_error_and_writes_nothing
);
