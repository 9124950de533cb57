//! `incident start --revoke` against sfsim: every grant live at the start is revoked exactly once
//! at Salesforce (sfsim's stats agree), every org moves to `needs_reauth` and into the emergency
//! wave and is sent the incident's message once over SMTP; an interrupted pass — in
//! process, and a worker process SIGKILLed mid-revocation — resumes with nothing revoked twice
//! and nothing missed.

use crate::processes::{Children, spawn_worker};
use std::sync::Arc;
use std::time::Duration;

use domain::entity::connection::ConnectionStatus;
use domain::events::Actor;
use domain::registry::state::OrgState;
use domain::security::incident::{incidents, revoke};
use reauth_tests::smtp::SmtpSink;
use reauth_tests::{TestDb, both_backends, seed};
use sea_orm::{ConnectionTrait as _, EntityTrait as _};
use secrecy::ExposeSecret as _;
use sfsim::Sim;

const N: usize = 120;

pub(crate) struct Setup {
    pub(crate) db: TestDb,
    pub(crate) sim: Sim,
    pub(crate) sink: SmtpSink,
    pub(crate) config: Arc<domain::config::Config>,
    pub(crate) vault: domain::vault::Vault,
}

/// `n` customers who consented (verified), each with a live grant at sfsim.
pub(crate) async fn setup(db: TestDb, n: usize, latency: Duration) -> Setup {
    let mut sc = seed::sim_config(n);
    sc.faults.latency = Some(latency);
    let sim = Sim::start(sc, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    seed::import_orgs(&db.db, n).await;
    let sink = SmtpSink::start().await;
    let mut config = seed::vault_config(&sim, &db.url);
    config.mail.transport = sink.url();
    config.heartbeat.per_instance = 8;
    seed::connect_all(&db.db, &sim, &config, n).await;
    db.db
        .execute_unprepared("UPDATE orgs SET state = 'verified'")
        .await
        .unwrap();
    let config = Arc::new(config);
    let vault = domain::vault::Vault::from_config(
        db.db.clone(),
        config.clone(),
        domain::time::Clock::system(),
        "test",
    )
    .unwrap()
    .unwrap();
    Setup {
        db,
        sim,
        sink,
        config,
        vault,
    }
}

pub(crate) async fn start(s: &Setup) -> incidents::Started {
    incidents::start(
        &s.db.db,
        &s.config,
        &Actor::Cli("ops".into()),
        "consumer secret published in a public repository",
        true,
        chrono::Utc::now(),
    )
    .await
    .unwrap()
}

pub(crate) async fn progress(s: &Setup) -> revoke::Progress {
    incidents::current(&s.db.db)
        .await
        .unwrap()
        .unwrap()
        .progress
}

/// Runs passes until nothing is pending or in flight.
pub(crate) async fn revoke_all(s: &Setup) {
    for _ in 0..20 {
        revoke::run(&s.vault, &Actor::System).await.unwrap();
        let p = progress(s).await;
        if p.pending + p.revoking == 0 {
            return;
        }
    }
    panic!("the pass did not finish: {:?}", progress(s).await);
}

/// The scheduler and the sender, as the worker runs them.
async fn schedule_and_send(s: &Setup) {
    schedule_and_send_at(s, chrono::Utc::now()).await;
}

/// [`schedule_and_send`] as if it were `now`.
pub(crate) async fn schedule_and_send_at(s: &Setup, now: chrono::DateTime<chrono::Utc>) {
    domain::campaign::schedule(&s.db.db, now, None)
        .await
        .unwrap();
    let mailer = domain::mail::Mailer::from_config(&s.config.mail).unwrap();
    let sealer = domain::security::crypto::Sealer::from_config(&s.config.crypto).unwrap();
    let sender = domain::campaign::notices::Sender {
        mailer: &mailer,
        sealer: &sealer,
        config: &s.config,
        owner: "test",
    };
    domain::campaign::notices::send_due(&s.db.db, &sender, now, 10_000)
        .await
        .unwrap();
}

pub(crate) fn revoked_at_salesforce(sim: &Sim) -> u64 {
    sim.stats()
        .revoked_by_reason
        .get("revoke_endpoint")
        .copied()
        .unwrap_or(0)
}

/// Every connection revoked, every org in `needs_reauth` in the emergency wave.
async fn assert_all_out(db: &TestDb, n: usize) {
    let conns = domain::entity::connection::Entity::find()
        .all(&db.db)
        .await
        .unwrap();
    assert_eq!(conns.len(), n);
    assert!(conns.iter().all(|c| c.status == ConnectionStatus::Revoked));
    let orgs = domain::entity::org::Entity::find()
        .all(&db.db)
        .await
        .unwrap();
    assert!(
        orgs.iter()
            .all(|o| o.state == OrgState::NeedsReauth && o.wave_id.is_some()),
        "every org needs a new consent, in the emergency wave"
    );
}

/// One incident message per customer admin, no other mail.
pub(crate) fn assert_notified_once(sink: &SmtpSink, n: usize) {
    let msgs = sink.messages();
    let mut to: Vec<String> = msgs.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    let before = to.len();
    to.dedup();
    assert_eq!((before, to.len()), (n, n), "each admin exactly once");
    for m in &msgs {
        let subject = m.header("Subject").unwrap_or_default();
        assert!(subject.contains("Security notice"), "{subject}");
    }
}

/// After a SIGKILL of a sender: every admin notified, and a second message only inside the one
/// window no outbox can close — the killed worker's mail server had accepted the message, the
/// worker died before writing so — as the same message again (one Message-ID per admin), for at
/// most the notices it had in flight (8 at a time).
fn assert_notified_once_but_for_the_kill(sink: &SmtpSink, n: usize) {
    let msgs = sink.messages();
    let mut ids: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        std::collections::BTreeMap::new();
    let mut copies: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for m in &msgs {
        for to in &m.to {
            let id = m.header("Message-ID").unwrap_or_default();
            ids.entry(to.clone()).or_default().insert(id);
            *copies.entry(to.clone()).or_default() += 1;
        }
        let subject = m.header("Subject").unwrap_or_default();
        assert!(subject.contains("Security notice"), "{subject}");
    }
    assert_eq!(ids.len(), n, "every admin notified");
    assert!(
        ids.values().all(|set| set.len() == 1),
        "a resend is the same message: {ids:?}"
    );
    let twice = copies.values().filter(|&&c| c > 1).count();
    assert!(
        copies.values().all(|&c| c <= 2) && twice <= 8,
        "resent only what was in flight at the kill: {twice} admins twice, {copies:?}"
    );
}

async fn revoking_every_grant_notifies_every_org_once(db: TestDb) {
    let s = setup(db, N, Duration::from_millis(5)).await;
    let started = start(&s).await;
    assert_eq!(started.to_revoke, N as u64);
    assert_eq!(started.incident.wave.as_deref(), Some("incident-1"));
    revoke_all(&s).await;
    assert_eq!(revoked_at_salesforce(&s.sim), N as u64, "sfsim agrees");
    assert_eq!(s.sim.stats().live_grants, 0);
    let p = progress(&s).await;
    assert_eq!((p.revoked, p.failed, p.pending), (N as u64, 0, 0));
    assert_all_out(&s.db, N).await;

    schedule_and_send(&s).await;
    schedule_and_send(&s).await;
    assert_notified_once(&s.sink, N);
    let view = incidents::current(&s.db.db).await.unwrap().unwrap();
    assert_eq!(
        (view.affected, view.notified, view.reconsented),
        (120, 120, 0)
    );
    // A second pass finds nothing to do and calls Salesforce no more.
    let calls = s.sim.stats().revocations;
    assert_eq!(
        revoke::run(&s.vault, &Actor::System).await.unwrap(),
        revoke::Pass::default()
    );
    assert_eq!(s.sim.stats().revocations, calls);
}
both_backends!(
    revoking_every_grant_notifies_every_org_once_,
    revoking_every_grant_notifies_every_org_once
);

/// A pass killed at its two worst moments: after Salesforce revoked but before the row was
/// finished, and after the vault marked the connection but before Salesforce was called.
async fn an_interrupted_pass_resumes_without_revoking_twice(db: TestDb) {
    let s = setup(db, 30, Duration::from_millis(1)).await;
    start(&s).await;
    let long_ago = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let claim = format!(
        "UPDATE incident_connections SET state = 'revoking', attempts = 1, updated_at = '{long_ago}' WHERE connection_id <= 20"
    );
    s.db.db.execute_unprepared(&claim).await.unwrap();
    // 1–10: revoked at Salesforce, the worker died before writing so.
    for id in 1..=10 {
        s.vault.retire(id, ConnectionStatus::Revoked).await.unwrap();
    }
    // 11–20: marked out of service, the worker died before calling Salesforce.
    s.db.db
        .execute_unprepared("UPDATE connections SET status = 'revoked' WHERE id > 10 AND id <= 20")
        .await
        .unwrap();
    assert_eq!(revoked_at_salesforce(&s.sim), 10);

    revoke_all(&s).await;
    assert_eq!(
        revoked_at_salesforce(&s.sim),
        30,
        "nothing missed, nothing twice"
    );
    assert_eq!(s.sim.stats().live_grants, 0);
    let p = progress(&s).await;
    assert_eq!((p.revoked, p.failed), (30, 0));
    assert_all_out(&s.db, 30).await;
}
both_backends!(
    an_interrupted_pass_resumes_without_revoking_twice_,
    an_interrupted_pass_resumes_without_revoking_twice
);

/// A worker process SIGKILLed mid-revocation (50 ms per call at sfsim, 2 at a time), then a
/// new one: every grant revoked once, every org notified over SMTP — once, but for a notice the
/// killed worker's mail server had accepted just before the kill, which goes again as the same
/// message (`assert_notified_once_but_for_the_kill`).
async fn a_worker_killed_mid_revocation_resumes(db: TestDb) {
    let n = 150;
    let s = setup(db, n, Duration::from_millis(50)).await;
    start(&s).await;
    let c = &s.config;
    let env: Vec<(String, String)> = vec![
        ("REAUTH_DATABASE_URL".into(), s.db.url.clone()),
        ("REAUTH_SALESFORCE__CLIENT_ID".into(), "reauth-eca".into()),
        (
            "REAUTH_SALESFORCE__CLIENT_SECRET".into(),
            "reauth-eca-secret".into(),
        ),
        (
            "REAUTH_SALESFORCE__LOGIN_URL".into(),
            c.salesforce.login_url.clone(),
        ),
        (
            "REAUTH_SALESFORCE__EXTRA_LOGIN_HOSTS".into(),
            format!("[\"{}\"]", s.sim.host_port()),
        ),
        ("REAUTH_SALESFORCE__HTTP_TIMEOUT".into(), "2s".into()),
        (
            "REAUTH_CRYPTO__KEYS".into(),
            format!("[\"{}\"]", c.crypto.keys[0].expose_secret()),
        ),
        ("REAUTH_HEARTBEAT__CONCURRENCY".into(), "2".into()),
        ("REAUTH_HEARTBEAT__PER_INSTANCE".into(), "2".into()),
        ("REAUTH_MAIL__TRANSPORT".into(), s.sink.url()),
        // The notices the killed worker had claimed go again once their lease (2 × this) ends.
        ("REAUTH_MAIL__TIMEOUT".into(), "5s".into()),
        ("REAUTH_CAMPAIGN__TICK".into(), "1s".into()),
    ];
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("worker.log");
    let mut worker = Children::new([spawn_worker(&env, &log)]);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while progress(&s).await.revoked < 40 {
        assert!(
            std::time::Instant::now() < deadline,
            "no progress: {:?}\n{}",
            progress(&s).await,
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    worker[0].kill().unwrap(); // SIGKILL
    worker[0].wait().unwrap();
    let at_kill = progress(&s).await;
    assert!(at_kill.pending > 0, "killed mid-revocation: {at_kill:?}");

    let worker = Children::new([spawn_worker(&env, &log)]);
    // A row killed inside the vault's admin lease waits for that lease (60 s) to run out; on a
    // loaded two-core machine the whole test took 100–210 s.
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    loop {
        let p = progress(&s).await;
        let sent = s.sink.messages().len();
        if p.revoked == n as u64 && sent >= n {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not finished: {p:?}, {sent} mails\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Give a duplicate the time to show.
    tokio::time::sleep(Duration::from_secs(3)).await;
    drop(worker);
    assert_eq!(revoked_at_salesforce(&s.sim), n as u64, "{at_kill:?}");
    assert_eq!(s.sim.stats().live_grants, 0);
    assert_all_out(&s.db, n).await;
    assert_notified_once_but_for_the_kill(&s.sink, n);
}
both_backends!(
    a_worker_killed_mid_revocation_resumes_,
    a_worker_killed_mid_revocation_resumes
);
