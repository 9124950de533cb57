//! The secret-rotation path of an incident (`incident start` without `--revoke`) when
//! Salesforce revoked every grant of the app: the breaker trips on the first refusals and holds
//! their notices, the incident ends the hold, the heartbeat finds every other refusal without
//! tripping the breaker again, and every org is moved into the emergency wave and sent the
//! incident's message exactly once over SMTP — never the ordinary "reconnect" notice, even
//! when the notice sender runs between the heartbeat and the incident job.

use std::time::Duration;

use domain::events::Actor;
use domain::registry::state::OrgState;
use domain::security::incident::{breaker, emergency, incidents};
use reauth_tests::{TestDb, both_backends};
use sea_orm::{ConnectionTrait as _, EntityTrait as _, PaginatorTrait as _};

use crate::incident_revoke::{Setup, assert_notified_once, schedule_and_send_at, setup};

const N: usize = 120;

async fn send_only(s: &Setup) -> domain::campaign::notices::SendReport {
    let mailer = domain::mail::Mailer::from_config(&s.config.mail).unwrap();
    let sealer = domain::security::crypto::Sealer::from_config(&s.config.crypto).unwrap();
    let sender = domain::campaign::notices::Sender {
        mailer: &mailer,
        sealer: &sealer,
        config: &s.config,
        owner: "test",
    };
    domain::campaign::notices::send_due(&s.db.db, &sender, chrono::Utc::now(), 10_000)
        .await
        .unwrap()
}

async fn make_due(s: &Setup) {
    s.db.db
        .execute_unprepared("UPDATE connections SET next_heartbeat_at = created_at")
        .await
        .unwrap();
}

/// Waits until every exchange sfsim answered is recorded (they are written on tasks of their
/// own).
async fn recorded(s: &Setup) {
    let st = s.sim.stats();
    let answered = st.refresh_ok + st.refresh_rejected.values().sum::<u64>();
    for _ in 0..400 {
        let n = domain::entity::exchange::Entity::find()
            .count(&s.db.db)
            .await
            .unwrap();
        if n >= answered {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("exchanges were not recorded");
}

async fn in_the_wave(s: &Setup) -> usize {
    domain::entity::org::Entity::find()
        .all(&s.db.db)
        .await
        .unwrap()
        .iter()
        .filter(|o| o.state == OrgState::NeedsReauth && o.wave_id.is_some())
        .count()
}

async fn salesforce_revoking_every_grant_is_answered_by_the_emergency_wave(db: TestDb) {
    let s = setup(db, N, Duration::from_millis(1)).await;
    assert_eq!(
        s.sim.revoke_share(1.0).unwrap(),
        N,
        "Salesforce revokes every grant"
    );
    make_due(&s).await;
    // The first 40 refusals (of 120 due): the rest are found while the incident is open.
    let first = domain::vault::heartbeat::sweep(&s.vault, 40).await.unwrap();
    recorded(&s).await;
    assert!(
        breaker::check(&s.db.db, &s.config.incident, chrono::Utc::now())
            .await
            .unwrap(),
        "a mass revocation trips the breaker: {first:?}"
    );
    assert!(send_only(&s).await.held, "the breaker holds every notice");

    let started = incidents::start(
        &s.db.db,
        &s.config,
        &Actor::Cli("ops".into()),
        "Salesforce revoked every token of the app",
        false,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert!(started.breaker_resumed);
    assert_eq!(
        started.to_revoke, 0,
        "the rotation path revokes nothing itself"
    );

    // The worker's jobs, in the order that once sent a "reconnect" notice first: the heartbeat,
    // the sender, then the incident job's enrolment and the scheduler.
    for _ in 0..10 {
        make_due(&s).await;
        domain::vault::heartbeat::sweep(&s.vault, 10_000)
            .await
            .unwrap();
        recorded(&s).await;
        let sent = send_only(&s).await;
        assert!(!sent.held, "the breaker tripped again during the incident");
        emergency::enroll_refused(&s.db.db, &Actor::System, chrono::Utc::now())
            .await
            .unwrap();
        schedule_and_send_at(&s, chrono::Utc::now()).await;
        if in_the_wave(&s).await == N && s.sink.messages().len() >= N {
            break;
        }
    }
    schedule_and_send_at(&s, chrono::Utc::now()).await;
    assert_eq!(
        in_the_wave(&s).await,
        N,
        "every org needs a new consent, in the wave"
    );
    assert!(!breaker::is_tripped(&s.db.db).await.unwrap());
    let stats = s.sim.stats();
    assert_eq!(stats.live_grants, 0);
    assert_eq!(
        stats.revoked_by_reason.get("admin").copied(),
        Some(N as u64)
    );
    assert_eq!(stats.refresh_ok, 0);
    assert_notified_once(&s.sink, N);
    let view = incidents::current(&s.db.db).await.unwrap().unwrap();
    assert_eq!((view.affected, view.notified), (N as u64, N as u64));
}
both_backends!(
    salesforce_revoking_every_grant_is_answered_by_the_emergency_wave_,
    salesforce_revoking_every_grant_is_answered_by_the_emergency_wave
);
