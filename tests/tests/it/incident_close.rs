//! Closing an incident ends its emergency wave: the orgs that have not consented again get no
//! further "your app was compromised" reminder and no escalation goes to their CSM, a notice
//! still waiting (a deferred delivery) is cancelled, and each step is an event.

use std::time::Duration;

use domain::entity::notice::{self, NoticeStatus};
use domain::events::Actor;
use domain::registry::state::OrgState;
use domain::security::incident::incidents;
use reauth_tests::{TestDb, both_backends, seed};
use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _};

use crate::incident_revoke::{revoke_all, schedule_and_send_at, setup, start};

const N: usize = 10;

async fn events_of(db: &TestDb, kind: &str) -> Vec<domain::entity::event::Model> {
    domain::entity::event::Entity::find()
        .filter(domain::entity::event::Column::Kind.eq(kind))
        .all(&db.db)
        .await
        .unwrap()
}

async fn closing_an_incident_stops_its_emergency_wave(db: TestDb) {
    let s = setup(db, N, Duration::from_millis(1)).await;
    start(&s).await;
    revoke_all(&s).await;
    // The first customer's mail server defers: its notice waits for a retry.
    s.sink.defer(&seed::admin(0));
    let t0 = chrono::Utc::now();
    schedule_and_send_at(&s, t0).await;
    assert_eq!(s.sink.messages().len(), N - 1, "the first step went out");
    let waiting = notice::Entity::find()
        .filter(notice::Column::Status.eq(NoticeStatus::Pending))
        .all(&s.db.db)
        .await
        .unwrap();
    assert_eq!(waiting.len(), 1, "the deferred notice waits for a retry");
    assert_eq!(
        waiting[0].recipient.as_deref(),
        Some(seed::admin(0).as_str())
    );

    let closed = incidents::close(&s.db.db, &Actor::Cli("ops".into()), t0)
        .await
        .unwrap();
    assert_eq!(closed.state, "closed");
    s.sink.accept(&seed::admin(0));

    // Past the default schedule's reminders (+1d, +3d) and its escalation (+4d).
    for days in [1, 2, 3, 4, 5, 8] {
        schedule_and_send_at(
            &s,
            t0 + chrono::Duration::days(days) + chrono::Duration::hours(1),
        )
        .await;
    }
    assert_eq!(
        s.sink.messages().len(),
        N - 1,
        "no reminder, no escalation and no deferred notice after the close: {:?}",
        s.sink
            .messages()
            .iter()
            .map(|m| (m.to.clone(), m.header("Subject")))
            .collect::<Vec<_>>()
    );
    let wave_notices = notice::Entity::find()
        .filter(notice::Column::WaveId.eq(closed_wave_id(&s.db).await))
        .all(&s.db.db)
        .await
        .unwrap();
    assert!(
        wave_notices
            .iter()
            .all(|n| matches!(n.status, NoticeStatus::Sent | NoticeStatus::Cancelled)),
        "{:?}",
        wave_notices.iter().map(|n| n.status).collect::<Vec<_>>()
    );
    assert_eq!(
        wave_notices.len(),
        N,
        "one notice per org, no later step created"
    );

    // One event per step: the wave paused, its waiting notices cancelled, the incident closed.
    let paused = events_of(&s.db, "wave.paused").await;
    assert_eq!(paused.len(), 1);
    assert_eq!(paused[0].details["wave"], "incident-1");
    let cancelled = events_of(&s.db, "incident.notices_cancelled").await;
    assert_eq!(cancelled.len(), 1);
    assert_eq!(cancelled[0].details["cancelled"], 1);
    assert_eq!(cancelled[0].details["still_to_consent"], N as u64);
    let closed_ev = events_of(&s.db, "incident.closed").await;
    assert_eq!(closed_ev.len(), 1);
    assert_eq!(closed_ev[0].details["notices_cancelled"], 1);

    // The orgs still need a new consent, and the registry says so.
    let orgs = domain::entity::org::Entity::find()
        .all(&s.db.db)
        .await
        .unwrap();
    assert!(orgs.iter().all(|o| o.state == OrgState::NeedsReauth));
}
both_backends!(
    closing_an_incident_stops_its_emergency_wave_,
    closing_an_incident_stops_its_emergency_wave
);

async fn closed_wave_id(db: &TestDb) -> i64 {
    domain::entity::wave::Entity::find()
        .filter(domain::entity::wave::Column::Name.eq("incident-1"))
        .one(&db.db)
        .await
        .unwrap()
        .unwrap()
        .id
}
