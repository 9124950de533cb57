//! The overview, the waves page and the audit log (page and CSV export).

use domain::staff::Role;
use reauth_tests::staff::{self, text_of};
use reauth_tests::{TestApp, TestDb, both_backends};
use sea_orm::EntityTrait;

use super::seeded;
use crate::dashboard_auth::config;

async fn overview_waves_and_events(db: TestDb) {
    let app = seeded(&db).await;
    let now = chrono::Utc::now();
    domain::campaign::set_schedule(
        &db.db,
        "w1",
        Some(now - chrono::Duration::days(10)),
        Some(now + chrono::Duration::days(20)),
        &domain::events::Actor::System,
        now,
    )
    .await
    .unwrap();
    // Five w1 orgs consented, on different days.
    for i in 0..5 {
        let id = domain::types::OrgId::parse(&format!("00D000000000{i:03}")).unwrap();
        domain::registry::state::apply(
            &db.db,
            &id,
            domain::registry::state::Change::Advance(domain::registry::state::OrgState::Consented),
            &domain::events::Actor::System,
            now - chrono::Duration::days(5 - i),
        )
        .await
        .unwrap();
    }
    domain::alerts::raise(
        &db.db,
        "refresh_failures",
        domain::alerts::Severity::Warning,
        None,
        "12 refreshes failed in the last hour",
        serde_json::json!({}),
        now,
    )
    .await
    .unwrap();
    let op = staff::first_sign_in(&app, "op@partner.example", Role::Operator).await;
    let (s, _, page) = op.get("/").await;
    assert_eq!(s, 200);
    let counts = text_of(&page, "#state-counts").unwrap();
    assert!(counts.contains("30"), "{counts}");
    assert!(
        counts.contains("25") && counts.contains("pending"),
        "{counts}"
    );
    // The burn-down has the ideal line and five completions.
    let burn = text_of(&page, "#burn-down").unwrap();
    assert!(burn.contains("15 of 20 remaining"), "{burn}");
    assert!(page.contains(r#"class="ideal""#));
    assert!(page.contains("Burn-down of wave w1: 15 of 20 orgs remaining"));
    // The funnel counts orgs that got at least this far.
    assert!(page.contains("30 (100%)"));
    assert!(page.contains("5 (17%)"), "consented: 5 of 30");
    let alerts = text_of(&page, "#alerts").unwrap();
    assert!(alerts.contains("12 refreshes failed"));
    // Acknowledge the alert.
    let alert_id = domain::entity::alert::Entity::find()
        .one(&db.db)
        .await
        .unwrap()
        .unwrap()
        .id;
    let (s, _, _) = op
        .post(&format!("/alerts/{alert_id}/acknowledge"), &[])
        .await;
    assert_eq!(s, 303);
    let (_, _, page) = op.get("/").await;
    assert!(
        text_of(&page, "#alerts")
            .unwrap()
            .contains("acknowledged by op@partner.example")
    );

    // Waves page: progress and the schedule's steps with dates; pause and resume.
    let (s, _, page) = op.get("/waves").await;
    assert_eq!(s, 200);
    assert!(page.contains("25% done"), "{page}");
    assert!(page.contains("announce —"));
    let (s, _, _) = op.post("/waves/w1/paused", &[("paused", "true")]).await;
    assert_eq!(s, 303);
    let (_, _, page) = op.get("/waves").await;
    assert!(page.contains("Resume notices for this wave"));

    // Events: filters, paging, CSV.
    let (s, _, page) = op.get("/events?kind=org.state_changed").await;
    assert_eq!(s, 200);
    let rows = scraper::Html::parse_document(&page)
        .select(&scraper::Selector::parse("#event-table tbody tr").unwrap())
        .count();
    assert_eq!(rows, 5);
    let (_, _, page) = op.get("/events?actor=op%40partner.example").await;
    assert!(page.contains("wave.paused"));
    assert!(!page.contains("org.state_changed"));
    let (_, _, page) = op.get("/events?kind=staff.").await;
    assert!(page.contains("staff.signed_in"));
    let (s, _, body) = op.get("/events?since=yesterday").await;
    assert_eq!(s, 400);
    assert!(body.contains("since must be a date"));
    let r = op
        .client
        .get(format!("{}/events.csv?kind=org.", app.base))
        .send()
        .await
        .unwrap();
    let body = r.text().await.unwrap();
    let mut rd = csv::Reader::from_reader(body.as_bytes());
    assert_eq!(
        rd.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "id",
            "at",
            "actor_kind",
            "actor",
            "org_id",
            "kind",
            "details"
        ]
    );
    // 30 imports + 5 consents.
    assert_eq!(rd.records().count(), 35);
}
both_backends!(
    overview_waves_and_events_show_the_rollout,
    overview_waves_and_events
);

#[tokio::test]
async fn the_event_export_pages_through_more_than_one_chunk() {
    let db = TestDb::sqlite().await;
    let now = chrono::Utc::now();
    let events: Vec<domain::events::NewEvent> = (0..12_000)
        .map(|i| domain::events::NewEvent {
            at: now - chrono::Duration::seconds(i),
            actor: domain::events::Actor::System,
            org_id: None,
            kind: "test.bulk".into(),
            details: serde_json::json!({ "i": i }),
        })
        .collect();
    domain::events::record_many(&db.db, events).await.unwrap();
    let app = TestApp::spawn(&db, config()).await;
    let v = staff::first_sign_in(&app, "vi@partner.example", Role::Viewer).await;
    let body = v
        .client
        .get(format!("{}/events.csv?kind=test.bulk", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut rd = csv::Reader::from_reader(body.as_bytes());
    let ids: std::collections::HashSet<String> =
        rd.records().map(|r| r.unwrap()[0].to_owned()).collect();
    assert_eq!(ids.len(), 12_000, "every event exactly once");
}
