//! The whole re-consent flow against sfsim: link → landing → start → Salesforce → callback.

use domain::config::Config;
use domain::events::Actor;
use domain::reconsent::links::NewLink;
use domain::types::OrgId;
use reauth_tests::{Backend, TestApp, TestDb, both_backends};
use scraper::{Html, Selector};
use sea_orm::{ConnectionTrait, EntityTrait};
use sfsim::{AppInstall, Sim, UserConfig};

const ORGS: &str = "org_id,name,environment,admin_email\n\
00D4c0000008cs2,Acme Corp,production,admin@acme.com\n\
00D4c0000008cs3,Acme Sandbox,sandbox,admin@acme.com\n";

pub(crate) struct World {
    pub db: TestDb,
    pub app: TestApp,
    pub sim: Sim,
}

async fn world(db: TestDb) -> World {
    world_with(db, true).await
}

/// Two Acme orgs and another customer, at reauth and at sfsim; `auto_approve` for headless runs.
pub(crate) async fn world_with(db: TestDb, auto_approve: bool) -> World {
    world_custom(db, auto_approve, |_| {}, |_| {}).await
}

/// As `world_with`, with last changes to the simulator's and to reauth's configuration.
pub(crate) async fn world_custom(
    db: TestDb,
    auto_approve: bool,
    tweak: impl FnOnce(&mut sfsim::Config),
    config_tweak: impl FnOnce(&mut Config),
) -> World {
    reauth_tests::import_csv(&db.db, ORGS).await;
    let mut sc = sfsim::Config::default_dataset();
    sc.orgs.clear();
    sc.settings.auto_approve = auto_approve;
    let sc = sc
        .with_org(
            "00D4c0000008cs2",
            "Acme Corp",
            "production",
            vec![UserConfig::new("admin@acme.com", true)],
        )
        .with_org(
            "00D4c0000008cs3",
            "Acme Sandbox",
            "sandbox",
            vec![UserConfig::new("admin@acme.com.uat", true)],
        )
        .with_org(
            "00D9z0000001xyz",
            "Other Customer",
            "production",
            vec![UserConfig::new("admin@other.example", true)],
        );
    let mut sc = sc;
    tweak(&mut sc);
    let sim = Sim::start(sc, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut config = Config::default();
    config.salesforce.client_id = Some("reauth-eca".into());
    config.salesforce.client_secret = Some("reauth-eca-secret".to_owned().into());
    config.salesforce.login_url = sim.base_url().to_owned();
    config.salesforce.sandbox_login_url = sim.base_url().to_owned();
    config.salesforce.extra_login_hosts = vec![sim.host_port().to_owned()];
    config.crypto.keys = vec![domain::security::crypto::Sealer::generate_key("k1")];
    config.partner.egress_ranges = vec!["203.0.113.0/28".parse().unwrap()];
    config_tweak(&mut config);
    let app = TestApp::spawn(&db, config).await;
    sim.add_redirect_uri(&format!("{}/oauth/callback", app.base));
    World { db, app, sim }
}

pub(crate) async fn new_link(w: &World, org: &str) -> String {
    let id = OrgId::parse(org).unwrap();
    let new = NewLink {
        org_id: &id,
        contact: None,
        ttl: std::time::Duration::from_secs(86_400),
        notice_id: None,
    };
    let (secret, _) = domain::reconsent::links::create(
        &w.db.db,
        new,
        &Actor::Cli("t".into()),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    secret.expose().to_owned()
}

fn sel(doc: &Html, css: &str) -> String {
    let s = Selector::parse(css).unwrap();
    doc.select(&s)
        .next()
        .map(|e| e.text().collect::<String>().trim().to_owned())
        .unwrap_or_default()
}

/// Landing page → "Continue to Salesforce"; returns the authorize URL reauth redirected to.
pub(crate) async fn start(w: &World, secret: &str) -> url::Url {
    let html = w
        .app
        .get(&format!("/r/{secret}"))
        .await
        .text()
        .await
        .unwrap();
    let doc = Html::parse_document(&html);
    let csrf = Selector::parse("input[name=csrf]").unwrap();
    let csrf = doc
        .select(&csrf)
        .next()
        .unwrap()
        .value()
        .attr("value")
        .unwrap()
        .to_owned();
    let r = w
        .app
        .client
        .post(format!("{}/r/{secret}/start", w.app.base))
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap()
}

/// Salesforce (auto-approve as `username`) → the callback URL it sends the browser to.
pub(crate) async fn authorize_as(mut auth: url::Url, username: &str) -> String {
    auth.query_pairs_mut().append_pair("login_hint", username);
    let r = reauth_tests::http_client().get(auth).send().await.unwrap();
    assert_eq!(r.status(), 303, "sfsim should redirect back");
    r.headers()["location"].to_str().unwrap().to_owned()
}

pub(crate) async fn callback(w: &World, url: &str) -> (u16, Html) {
    let r = w.app.client.get(url).send().await.unwrap();
    (
        r.status().as_u16(),
        Html::parse_document(&r.text().await.unwrap()),
    )
}

pub(crate) async fn state_of(w: &World, org: &str) -> domain::registry::state::OrgState {
    domain::registry::show(&w.db.db, &OrgId::parse(org).unwrap())
        .await
        .unwrap()
        .org
        .state
}

pub(crate) async fn connections(w: &World) -> Vec<domain::entity::connection::Model> {
    domain::entity::connection::Entity::find()
        .all(&w.db.db)
        .await
        .unwrap()
}

/// Every stored byte, to prove no issued token is there in plain text.
pub(crate) async fn raw_dump(w: &World) -> Vec<u8> {
    match w.db.backend {
        Backend::Sqlite => {
            w.db.db
                .execute_unprepared("PRAGMA wal_checkpoint(FULL)")
                .await
                .ok();
            let mut bytes = Vec::new();
            for entry in std::fs::read_dir(w.db.dir().unwrap()).unwrap() {
                bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
            }
            bytes
        }
        Backend::Postgres => {
            let mut out = Vec::new();
            for t in [
                "connections",
                "events",
                "links",
                "notices",
                "orgs",
                "tower_sessions",
                "alerts",
            ] {
                let rows =
                    w.db.db
                        .query_all_raw(sea_orm::Statement::from_string(
                            w.db.db.get_database_backend(),
                            format!("SELECT row_to_json(t)::text AS j FROM {t} t"),
                        ))
                        .await
                        .unwrap();
                for r in rows {
                    out.extend(r.try_get::<String>("", "j").unwrap().into_bytes());
                }
            }
            out
        }
    }
}

pub(crate) fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

mod consent;
