//! Many customers at once: `n` orgs at sfsim (one admin each) and in reauth's registry, and a
//! real, stored connection per org from a real code exchange — the starting point of the vault's
//! load and race tests.

use std::time::Duration;

use domain::config::Config;
use sea_orm::DatabaseConnection;

/// The callback the seeded grants were made for (nothing listens there).
pub const CALLBACK: &str = "http://127.0.0.1:9/cb";

/// The org id of customer `i`.
pub fn org_id(i: usize) -> String {
    format!("00D{:012}", i + 1)
}

/// The admin of customer `i`.
pub fn admin(i: usize) -> String {
    format!("admin@c{i}.example")
}

/// sfsim's dataset for `n` customers: rotation on, auto-approve, no login-rate limit.
pub fn sim_config(n: usize) -> sfsim::Config {
    let mut sc = sfsim::Config::default_dataset().with_redirect_uri(CALLBACK);
    sc.orgs.clear();
    sc.settings.auto_approve = true;
    sc.settings.login_rate_per_hour = u32::MAX;
    for i in 0..n {
        sc = sc.with_org(
            &org_id(i),
            &format!("Customer {i}"),
            "production",
            vec![sfsim::UserConfig::new(&admin(i), true)],
        );
    }
    sc
}

/// reauth's configuration for the vault against `sim`, with a fresh key.
pub fn vault_config(sim: &sfsim::Sim, db_url: &str) -> Config {
    let mut config = Config::default();
    config.salesforce.client_id = Some("reauth-eca".into());
    config.salesforce.client_secret = Some("reauth-eca-secret".to_owned().into());
    config.salesforce.login_url = sim.base_url().to_owned();
    config.salesforce.extra_login_hosts = vec![sim.host_port().to_owned()];
    config.salesforce.http_timeout = Duration::from_secs(2);
    config.crypto.keys = vec![domain::security::crypto::Sealer::generate_key("k1")];
    config.database_url = db_url.to_owned();
    config
}

/// Imports `n` customers into the registry.
pub async fn import_orgs(db: &DatabaseConnection, n: usize) {
    let mut csv = String::from("org_id,name,admin_email\n");
    for i in 0..n {
        csv.push_str(&format!("{},Customer {i},{}\n", org_id(i), admin(i)));
    }
    crate::import_csv(db, &csv).await;
}

/// One stored, `active` connection per customer, each from a real consent (authorize with
/// PKCE, code exchange) at `sim`. Returns the connection ids in customer order.
pub async fn connect_all(
    db: &DatabaseConnection,
    sim: &sfsim::Sim,
    config: &Config,
    n: usize,
) -> Vec<i64> {
    let sf = domain::salesforce::SfClient::from_config(config)
        .expect("client")
        .expect("salesforce.client_id is set");
    let sealer = domain::security::crypto::Sealer::from_config(&config.crypto).expect("sealer");
    let login =
        domain::types::LoginUrl::parse(sim.base_url(), &config.salesforce.extra_login_hosts)
            .expect("login url");
    let http = crate::http_client();
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let pkce = domain::salesforce::Pkce::generate();
        let mut u =
            url::Url::parse(&format!("{}/services/oauth2/authorize", sim.base_url())).expect("url");
        u.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", "reauth-eca")
            .append_pair("redirect_uri", CALLBACK)
            .append_pair("scope", "api refresh_token")
            .append_pair("code_challenge", &pkce.challenge)
            .append_pair("login_hint", &admin(i));
        let r = http.get(u).send().await.expect("authorize");
        let loc = url::Url::parse(r.headers()["location"].to_str().expect("location"))
            .expect("location url");
        let code = loc
            .query_pairs()
            .find(|(k, _)| k == "code")
            .expect("code")
            .1
            .into_owned();
        let grant = sf
            .exchange_code(&login, CALLBACK, &code, &pkce.verifier)
            .await
            .expect("code exchange");
        let rt = grant.refresh_token.clone().expect("refresh token");
        let org = domain::types::OrgId::parse(&org_id(i)).expect("org id");
        let new = domain::vault::store::NewConnection::from_grant(
            &org,
            domain::entity::connection::ConnectionStatus::Active,
            &grant,
            &rt,
            config.heartbeat.interval,
        )
        .expect("a complete grant");
        let c = domain::vault::store::insert(db, new, &sealer, chrono::Utc::now())
            .await
            .expect("insert");
        ids.push(c.id);
    }
    ids
}
