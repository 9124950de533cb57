//! The legacy cut-over against sfsim: import (held, sealed, never exchanged), activation and its
//! identity check, serving the best credential, the cut-over on consent in every process, the
//! fallback when the new grant dies, standby for another user, retirement and readiness.

use std::time::Duration;

use domain::config::Config;
use domain::entity::connection::{ConnectionApp, ConnectionStatus};
use domain::events::Actor;
use domain::legacy::import::{self, Format, Options};
use domain::legacy::{activate, report, retire};
use domain::registry::state::OrgState;
use domain::security::api_keys::ApiScope;
use domain::types::OrgId;
use reauth_tests::{TestApp, TestDb, both_backends};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::reconsent_flow::{
    World, authorize_as, callback, connections, contains, new_link, raw_dump, start, state_of,
    world_custom,
};

const ACME: &str = "00D4c0000008cs2";
const OTHER: &str = "00D9z0000001xyz";

pub(crate) fn legacy_config(c: &mut Config) {
    // Forced refreshes exchange at once (the fallback test forces one right after a consent).
    c.heartbeat.min_gap = Duration::ZERO;
    c.legacy.client_id = Some("reauth-legacy".into());
    c.legacy.client_secret = Some("reauth-legacy-secret".to_owned().into());
    c.legacy.retire_after = Duration::from_secs(1);
}

async fn world(db: TestDb, sim: impl FnOnce(&mut sfsim::Config)) -> World {
    let w = world_custom(db, true, sim, legacy_config).await;
    reauth_tests::import_csv(
        &w.db.db,
        &format!("org_id,name,admin_email\n{OTHER},Other Customer,admin@other.example\n"),
    )
    .await;
    w
}

/// A legacy grant at sfsim, as the partner's token table holds it.
pub(crate) struct Minted {
    refresh_token: String,
    instance_url: String,
    user_id: String,
}

pub(crate) fn mint(w: &World, username: &str) -> Minted {
    let g = w
        .sim
        .mint_grant("reauth-legacy", username, &["api", "refresh_token"])
        .unwrap();
    let user_id = g.id.rsplit('/').next().unwrap().to_owned();
    Minted {
        refresh_token: g.refresh_token.unwrap(),
        instance_url: g.instance_url,
        user_id,
    }
}

pub(crate) fn csv_line(org: &str, m: &Minted) -> String {
    format!(
        "{org},{},,{},{},,,api refresh_token\n",
        m.refresh_token, m.instance_url, m.user_id
    )
}

pub(crate) const HEADER: &str =
    "org_id,refresh_token,login_url,instance_url,sf_user_id,sf_username,issued_at,scopes\n";

pub(crate) async fn import_text(w: &World, text: &str, opts: Options) -> import::Outcome {
    let vault = w.app.state.vault.as_ref().unwrap();
    let extra = &w.app.state.config.salesforce.extra_login_hosts;
    let parsed = import::parse(text.as_bytes(), Format::Csv, "tokens.csv", extra);
    import::import(
        vault,
        "tokens.csv",
        parsed,
        opts,
        &Actor::Cli("t".into()),
        &(),
    )
    .await
    .unwrap()
}

async fn key(w: &World, scopes: &[ApiScope]) -> String {
    let (k, _) = domain::security::api_keys::create_with_scopes(
        &w.db.db,
        "billing-service",
        scopes,
        &Actor::Cli("t".into()),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    k.expose_secret().to_owned()
}

async fn token(app: &TestApp, key: &str, org: &str) -> (u16, Value) {
    let r = app
        .client
        .get(format!("{}/api/v1/orgs/{org}/access-token", app.base))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Whether sfsim accepts an access token (a REST call with it).
async fn works_at_sfsim(w: &World, answer: &Value) -> bool {
    let r = reauth_tests::http_client()
        .get(format!("{}/services/data/v66.0/limits", w.sim.base_url()))
        .bearer_auth(answer["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    r.status() == 200
}

fn org(s: &str) -> OrgId {
    OrgId::parse(s).unwrap()
}

async fn consent(w: &World, org: &str, username: &str) {
    let secret = new_link(w, org).await;
    let auth = start(w, &secret).await;
    let cb = authorize_as(auth, username).await;
    assert_eq!(callback(w, &cb).await.0, 200);
}

async fn legacy_rows(w: &World) -> Vec<domain::entity::connection::Model> {
    connections(w)
        .await
        .into_iter()
        .filter(|c| c.app == ConnectionApp::Legacy)
        .collect()
}

mod cut_over;
mod importing;
mod readiness;
