//! Vault integrity: every path that could throw away a token Salesforce rotated, each driven
//! against sfsim (through a proxy that can change the shape of Salesforce's answers where a test
//! needs that) and checked where it matters — at sfsim: no reuse, exactly the grants expected.

use std::sync::Arc;
use std::time::Duration;

use domain::config::Config;
use domain::entity::connection::ConnectionStatus;
use domain::events::Actor;
use domain::vault::{Trigger, Vault, VaultOptions};
use reauth_tests::tamper::{Tamper, TamperProxy};
use reauth_tests::{TestApp, TestDb, both_backends, seed};
use sea_orm::{ConnectionTrait, EntityTrait, TransactionTrait};
use secrecy::ExposeSecret;
use serde_json::Value;
use sfsim::{Sim, UserConfig};

use crate::reconsent_flow::{World, authorize_as, callback, connections, new_link, start};

const ACME: &str = "00D4c0000008cs2EAA";
const ORGS: &str = "org_id,name,environment,admin_email\n\
00D4c0000008cs2,Acme Corp,production,admin@acme.com\n";

/// Acme at reauth and at sfsim, with reauth talking to Salesforce through a tamper proxy.
async fn proxied_world(
    db: TestDb,
    sim_tweak: impl FnOnce(&mut sfsim::Config),
    cfg_tweak: impl FnOnce(&mut Config),
) -> (World, TamperProxy) {
    reauth_tests::import_csv(&db.db, ORGS).await;
    let mut sc = sfsim::Config::default_dataset();
    sc.orgs.clear();
    sc.settings.auto_approve = true;
    let mut sc = sc.with_org(
        "00D4c0000008cs2",
        "Acme Corp",
        "production",
        vec![UserConfig::new("admin@acme.com", true)],
    );
    sim_tweak(&mut sc);
    let sim = Sim::start(sc, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let proxy = TamperProxy::start(sim.base_url(), "reauth-eca-secret").await;
    let mut config = Config::default();
    config.salesforce.client_id = Some("reauth-eca".into());
    config.salesforce.client_secret = Some("reauth-eca-secret".to_owned().into());
    config.salesforce.login_url = proxy.base_url().to_owned();
    config.salesforce.extra_login_hosts = vec![proxy.host_port()];
    config.crypto.keys = vec![domain::security::crypto::Sealer::generate_key("k1")];
    cfg_tweak(&mut config);
    let app = TestApp::spawn(&db, config).await;
    sim.add_redirect_uri(&format!("{}/oauth/callback", app.base));
    (World { db, app, sim }, proxy)
}

/// Acme consents through the real pages; returns an API key.
async fn consent(w: &World) -> String {
    let secret = new_link(w, ACME).await;
    let auth = start(w, &secret).await;
    let cb = authorize_as(auth, "admin@acme.com").await;
    assert_eq!(callback(w, &cb).await.0, 200);
    let (key, _) = domain::security::api_keys::create(
        &w.db.db,
        "billing-service",
        &Actor::Cli("t".into()),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    key.expose_secret().to_owned()
}

async fn force(w: &World, key: &str) -> (u16, Value) {
    let r = w
        .app
        .client
        .post(format!(
            "{}/api/v1/orgs/{ACME}/access-token/refresh",
            w.app.base
        ))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn advance(w: &World, d: Duration) {
    w.app.state.clock.advance(d);
    w.sim.advance_clock(d);
}

async fn alerts_of(w: &World, kind: &str) -> usize {
    domain::entity::alert::Entity::find()
        .all(&w.db.db)
        .await
        .unwrap()
        .iter()
        .filter(|a| a.kind == kind)
        .count()
}

/// Vaults standing in for separate processes (own owner, own cache and locks) over one database.
fn vaults(w: &World, n: usize, opts: VaultOptions) -> Vec<Vault> {
    let state = &w.app.state;
    (0..n)
        .map(|i| {
            Vault::with_options(
                w.db.db.clone(),
                state.vault.as_ref().unwrap().sf().clone(),
                state.sealer.clone().unwrap(),
                state.config.clone(),
                state.clock.clone(),
                &format!("worker-{i}"),
                opts,
            )
        })
        .collect()
}

/// A world of `n` connected customers (no tamper proxy): sfsim, reauth, seeded connections.
async fn many(db: TestDb, n: usize, tweak: impl FnOnce(&mut Config)) -> (World, Vec<i64>) {
    let sim = Sim::start(seed::sim_config(n), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    seed::import_orgs(&db.db, n).await;
    let mut config = seed::vault_config(&sim, &db.url);
    tweak(&mut config);
    let ids = seed::connect_all(&db.db, &sim, &config, n).await;
    let app = TestApp::spawn(&db, config).await;
    (World { db, app, sim }, ids)
}

/// [`many`] with every connection due now, and the rows as read, by id.
async fn all_due(db: TestDb, n: usize) -> (World, Vec<domain::entity::connection::Model>) {
    let (w, ids) = many(db, n, |_| {}).await;
    w.db.db
        .execute_unprepared("UPDATE connections SET next_heartbeat_at = created_at")
        .await
        .unwrap();
    let mut read = domain::entity::connection::Entity::find()
        .all(&w.db.db)
        .await
        .unwrap();
    read.sort_by_key(|c| c.id);
    assert_eq!(read.len(), ids.len());
    (w, read)
}

mod answers;
mod claim_page;
mod durability;
mod leases;
mod persist_group;
mod recovery;
