//! CSV import against a real database: all-or-nothing, skip-invalid, upsert, events.

use domain::events::{Actor, EventFilter};
use domain::registry::{ListFilter, parse_csv};
use reauth_tests::{TestDb, both_backends};

const GOOD: &str = "org_id,name,environment,wave,admin_email,secondary_email,csm_email\n\
00D4c0000008cs2,Acme,production,Wave 1,admin@acme.com,ops@acme.com,csm@partner.example\n\
00D5e000000AbCd,\"Globex, Inc.\",sandbox,Wave 1,it@globex.com,,\n";

async fn import(db: &TestDb, csv: &str) -> domain::registry::ImportReport {
    let parsed = parse_csv(csv.as_bytes(), "orgs.csv", &[], |_| {}).unwrap();
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let plan = domain::registry::plan_import(&db.db, "orgs.csv", parsed)
        .await
        .unwrap();
    domain::registry::apply_plan(
        &db.db,
        plan,
        &Actor::Cli("test".into()),
        chrono::Utc::now(),
        &(),
    )
    .await
    .unwrap()
}

async fn count(db: &TestDb) -> usize {
    domain::registry::list(&db.db, &ListFilter::default())
        .await
        .unwrap()
        .len()
}

async fn reimport_is_an_upsert_that_records_what_changed(db: TestDb) {
    let first = import(&db, GOOD).await;
    assert_eq!((first.created, first.updated, first.unchanged), (2, 0, 0));
    assert_eq!(first.new_waves, ["Wave 1"]);
    let again = import(&db, GOOD).await;
    assert_eq!((again.created, again.updated, again.unchanged), (0, 0, 2));
    assert_eq!(count(&db).await, 2, "re-import must not duplicate orgs");

    // Same org in its 18-character spelling, renamed, moved wave, secondary cleared.
    let changed = "org_id,name,wave,admin_email,secondary_email\n00D4c0000008cs2EAA,Acme Corp,Wave 2,admin@acme.com,\n";
    let r = import(&db, changed).await;
    assert_eq!((r.created, r.updated), (0, 1));
    let acme = domain::registry::show(
        &db.db,
        &domain::types::OrgId::parse("00D4c0000008cs2").unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(acme.org.name, "Acme Corp");
    assert_eq!(acme.org.wave.as_deref(), Some("Wave 2"));
    assert_eq!(
        acme.org.environment,
        domain::types::Environment::Production,
        "absent column leaves the field alone"
    );
    assert_eq!(
        acme.org.csm_email.as_deref(),
        Some("csm@partner.example"),
        "absent column leaves the field alone"
    );
    assert_eq!(
        acme.contacts
            .iter()
            .map(|c| c.role.as_str())
            .collect::<Vec<_>>(),
        ["primary"],
        "empty secondary_email clears it"
    );

    let updates = domain::events::list(
        &db.db,
        &EventFilter {
            kind: Some("org.updated".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(updates.len(), 1);
    let fields: Vec<&str> = updates[0].details["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "wave", "secondary_email"]);
    assert_eq!(updates[0].details["changes"][0]["old"], "Acme");
    assert_eq!(updates[0].details["changes"][0]["new"], "Acme Corp");
}

both_backends!(
    reimport_is_an_upsert_that_records_changes,
    reimport_is_an_upsert_that_records_what_changed
);

async fn searching_finds_orgs_by_id_name_and_contact_email(db: TestDb) {
    import(&db, GOOD).await;
    let search = |s: &str| ListFilter {
        search: Some(s.into()),
        ..Default::default()
    };
    let ids =
        |v: Vec<domain::registry::OrgSummary>| v.into_iter().map(|o| o.org_id).collect::<Vec<_>>();
    assert_eq!(
        ids(domain::registry::list(&db.db, &search("GLOBEX"))
            .await
            .unwrap()),
        ["00D5e000000AbCdEAK"]
    );
    assert_eq!(
        ids(domain::registry::list(&db.db, &search("ops@acme"))
            .await
            .unwrap()),
        ["00D4c0000008cs2EAA"]
    );
    assert_eq!(
        ids(domain::registry::list(&db.db, &search("00D4c0000008cs2"))
            .await
            .unwrap()),
        ["00D4c0000008cs2EAA"]
    );
    assert!(
        domain::registry::list(&db.db, &search("%"))
            .await
            .unwrap()
            .is_empty(),
        "LIKE wildcards match literally"
    );
    let sandbox = ListFilter {
        environment: Some("sandbox".into()),
        ..Default::default()
    };
    assert_eq!(
        ids(domain::registry::list(&db.db, &sandbox).await.unwrap()),
        ["00D5e000000AbCdEAK"]
    );
}

both_backends!(
    org_search_matches_id_name_and_contact_email,
    searching_finds_orgs_by_id_name_and_contact_email
);

async fn searching_follows_renames_and_replaced_contacts(db: TestDb) {
    import(&db, GOOD).await;
    let found = |s: &'static str| {
        let db = db.db.clone();
        async move {
            domain::registry::list(
                &db,
                &ListFilter {
                    search: Some(s.into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.name)
            .collect::<Vec<_>>()
        }
    };
    // A substring in the middle, and one too short for trigrams, both match.
    assert_eq!(found("lobe").await, ["Globex, Inc."]);
    assert_eq!(found("me").await, ["Acme"]);
    // Renamed and with its secondary contact cleared: the old name and email no longer match.
    import(
        &db,
        "org_id,name,admin_email,secondary_email\n00D4c0000008cs2,Initrode \"Quoted\",boss@initrode.example,\n",
    )
    .await;
    assert!(found("acme").await.is_empty(), "old name and emails gone");
    assert_eq!(found("initrode").await, ["Initrode \"Quoted\""]);
    assert_eq!(
        found("\"quoted\"").await,
        ["Initrode \"Quoted\""],
        "quotes in the text"
    );
    assert_eq!(found("boss@init").await, ["Initrode \"Quoted\""]);
}

both_backends!(
    org_search_follows_renames_and_replaced_contacts,
    searching_follows_renames_and_replaced_contacts
);
