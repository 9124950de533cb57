//! The seed: waves, orgs in a mid-rollout mix of states with their contacts and connections,
//! and the event log, written in large transactions.

use std::time::{Duration, Instant};

use chrono::Utc;
use domain::entity::{connection, contact, org, wave};
use domain::events::{Actor, NewEvent};
use domain::registry::state::OrgState;
use rand::{Rng, SeedableRng};
use reauth_tests::TestDb;
use sea_orm::{ActiveValue::NotSet, EntityTrait, Set, TransactionTrait};

use super::WAVES;

fn state(r: f64) -> OrgState {
    match r {
        r if r < 0.40 => OrgState::Pending,
        r if r < 0.55 => OrgState::Notified,
        r if r < 0.65 => OrgState::Opened,
        r if r < 0.70 => OrgState::Consented,
        r if r < 0.90 => OrgState::Verified,
        r if r < 0.95 => OrgState::LegacyRetired,
        r if r < 0.97 => OrgState::NeedsAttention,
        r if r < 0.98 => OrgState::NeedsReauth,
        _ => OrgState::Exempt,
    }
}

pub(crate) fn org_id(i: usize) -> String {
    domain::types::OrgId::parse(&format!("00D{:012}", i + 1))
        .unwrap()
        .as_str()
        .to_owned()
}

pub(crate) async fn seed(db: &TestDb, orgs: usize, events: usize) -> Duration {
    let t = Instant::now();
    let now = Utc::now();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for w in 0..WAVES {
        wave::Entity::insert(wave::ActiveModel {
            id: NotSet,
            name: Set(format!("w{w}")),
            starts_at: Set(Some(now - chrono::Duration::days(40))),
            deadline: Set(Some(now + chrono::Duration::days(w as i64 * 7 - 10))),
            steps: Set(domain::registry::DEFAULT_STEPS.into()),
            paused: Set(false),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec(&db.db)
        .await
        .unwrap();
    }
    let txn = db.db.begin().await.unwrap();
    let mut batch = Vec::new();
    let mut contacts = Vec::new();
    let mut conns = Vec::new();
    for i in 0..orgs {
        let st = state(rng.gen_range(0.0..1.0));
        let id = domain::types::OrgId::parse(&org_id(i)).unwrap();
        let done = st.completes_rollout() || st == OrgState::NeedsReauth;
        let when = now - chrono::Duration::minutes(rng.gen_range(0..40 * 24 * 60));
        batch.push(org::ActiveModel {
            id: Set(id.clone()),
            name: Set(format!("Customer {i:06}")),
            name_lower: Set(format!("customer {i:06}")),
            environment: Set(if i % 5 == 0 {
                domain::types::Environment::Sandbox
            } else {
                domain::types::Environment::Production
            }),
            login_url: Set(None),
            wave_id: Set(Some((i % WAVES) as i64 + 1)),
            state: Set(st),
            state_changed_at: Set(when),
            resume_state: Set((st == OrgState::NeedsAttention).then_some(OrgState::Opened)),
            attention_reason: Set(None),
            attention_owner: Set(None),
            csm_email: Set(Some(format!("csm{}@partner.example", i % 20))),
            notices_paused: Set(false),
            campaign_round: Set(0),
            completed_at: Set(done.then_some(when)),
            created_at: Set(now - chrono::Duration::days(41)),
            updated_at: Set(when),
            preflight: Set(None),
            preflight_at: Set(None),
        });
        contacts.push(contact::ActiveModel {
            id: NotSet,
            org_id: Set(id.clone()),
            role: Set("primary".into()),
            email: Set(format!("admin{i}@customer{i}.example")),
            name: Set(None),
            timezone: Set(None),
            bounce_status: Set("ok".into()),
            bounced_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        });
        if matches!(st, OrgState::Verified | OrgState::LegacyRetired) {
            let last = now - chrono::Duration::minutes(rng.gen_range(0..25 * 24 * 60));
            conns.push(connection::ActiveModel {
                id: NotSet,
                org_id: Set(id.clone()),
                app: Set(connection::ConnectionApp::Eca),
                status: Set(connection::ConnectionStatus::Active),
                refresh_token_ct: Set(Some(vec![0; 60])),
                access_token_ct: Set(Some(vec![0; 60])),
                key_id: Set(Some("k1".into())),
                instance_url: Set("https://example.my.salesforce.com".into()),
                id_url: Set(format!(
                    "https://login.salesforce.com/id/{id}/005000000000001"
                )),
                sf_user_id: Set("005000000000001".into()),
                sf_username: Set(Some(format!("admin@customer{i}.example"))),
                scopes: Set("api refresh_token".into()),
                issued_at: Set(last),
                access_token_at: Set(Some(last)),
                last_exchange_at: Set(last),
                next_heartbeat_at: Set(Some(last + chrono::Duration::days(25))),
                heartbeat_interval_secs: Set(None),
                version: Set(0),
                lease_owner: Set(None),
                lease_expires_at: Set(None),
                refresh_started_at: Set(None),
                last_error_class: Set(None),
                last_error: Set(None),
                last_error_at: Set(None),
                replaces_id: Set(None),
                created_at: Set(last),
                updated_at: Set(last),
                pending_refresh_token_ct: Set(None),
                pending_key_id: Set(None),
                pending_at: Set(None),
                anomaly: Set(None),
                verify_attempts: Set(0),
                next_verify_at: Set(None),
                verified_at: Set(Some(last)),
                revoke_attempts: Set(0),
                next_revoke_at: Set(None),
                rests_as: Set(None),
            });
        }
        if batch.len() == 500 {
            org::Entity::insert_many(std::mem::take(&mut batch))
                .exec_without_returning(&txn)
                .await
                .unwrap();
            contact::Entity::insert_many(std::mem::take(&mut contacts))
                .exec_without_returning(&txn)
                .await
                .unwrap();
            // Connections after their orgs (foreign key).
            if !conns.is_empty() {
                connection::Entity::insert_many(std::mem::take(&mut conns))
                    .exec_without_returning(&txn)
                    .await
                    .unwrap();
            }
        }
    }
    if !batch.is_empty() {
        org::Entity::insert_many(batch)
            .exec_without_returning(&txn)
            .await
            .unwrap();
        contact::Entity::insert_many(contacts)
            .exec_without_returning(&txn)
            .await
            .unwrap();
    }
    if !conns.is_empty() {
        connection::Entity::insert_many(conns)
            .exec_without_returning(&txn)
            .await
            .unwrap();
    }
    txn.commit().await.unwrap();
    let kinds = [
        "org.state_changed",
        "notice.sent",
        "link.opened",
        "vault.refreshed",
        "link.created",
    ];
    let mut left = events;
    while left > 0 {
        let n = left.min(50_000);
        let chunk: Vec<NewEvent> = (0..n)
            .map(|_| {
                let o = rng.gen_range(0..orgs);
                NewEvent {
                    at: now - chrono::Duration::seconds(rng.gen_range(0..40 * 86_400)),
                    actor: Actor::System,
                    org_id: Some(domain::types::OrgId::parse(&org_id(o)).unwrap()),
                    kind: kinds[rng.gen_range(0..kinds.len())].into(),
                    details: serde_json::json!({ "n": o }),
                }
            })
            .collect();
        let txn = db.db.begin().await.unwrap();
        domain::events::record_many(&txn, chunk).await.unwrap();
        txn.commit().await.unwrap();
        left -= n;
    }
    // Planner statistics and (PostgreSQL) the visibility map, as autovacuum keeps them in a
    // running database; without the map PostgreSQL's index-only scans visit every heap page.
    {
        use sea_orm::ConnectionTrait;
        let sql = match db.backend {
            reauth_tests::Backend::Postgres => "VACUUM ANALYZE",
            reauth_tests::Backend::Sqlite => "ANALYZE",
        };
        db.db.execute_unprepared(sql).await.unwrap();
    }
    t.elapsed()
}
