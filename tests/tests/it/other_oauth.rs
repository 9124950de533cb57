//! The re-consent flow against another standards-compliant OAuth 2.0 server: `oxide-auth`
//! (RFC 6749 with PKCE) mounted at Salesforce's paths. The only additions are what any server
//! behind reauth must provide: `id` and `instance_url` in token answers, and the identity URL.
//! It answers `token_type: "bearer"` in lower case, includes `expires_in`, signs nothing, and adds
//! an `iss` parameter to the callback — all of which reauth must take in its stride.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use domain::config::Config;
use domain::events::Actor;
use domain::reconsent::links::NewLink;
use domain::types::OrgId;
use oxide_auth::endpoint::{AccessTokenFlow, AuthorizationFlow, OwnerConsent, Solicitation};
use oxide_auth::frontends::simple::endpoint::{ErrorInto, FnSolicitor, Generic, Vacant};
use oxide_auth::frontends::simple::extensions::{AddonList, Extended, Pkce};
use oxide_auth::primitives::issuer::Issuer;
use oxide_auth::primitives::prelude::{AuthMap, Client, ClientMap, RandomGenerator, TokenMap};
use oxide_auth::primitives::registrar::RegisteredUrl;
use oxide_auth_axum::{OAuthRequest, OAuthResponse, WebError};
use reauth_tests::{TestApp, TestDb};
use scraper::{Html, Selector};

const ORG: &str = "00D4c0000008cs2EAA";
const USER: &str = "005000000000001AAA";

struct Other {
    base: String,
    registrar: ClientMap,
    authorizer: AuthMap<RandomGenerator>,
    issuer: TokenMap<RandomGenerator>,
}

type Shared = Arc<Mutex<Other>>;

/// The oxide-auth endpoint over `o`'s primitives, with PKCE required and every request approved.
/// (A macro: the endpoint's full type is unwieldy and only ever used in place.)
macro_rules! endpoint {
    ($o:expr) => {{
        let o: &mut Other = $o;
        let mut addons = AddonList::new();
        addons.push_code(Pkce::required());
        let solicitor = FnSolicitor(|_: &mut OAuthRequest, _: Solicitation<'_>| {
            OwnerConsent::<OAuthResponse>::Authorized(USER.to_owned())
        });
        let generic = Generic {
            registrar: &mut o.registrar,
            authorizer: &mut o.authorizer,
            issuer: &mut o.issuer,
            solicitor,
            scopes: Vacant,
            response: Vacant,
        };
        Extended::extend_with(ErrorInto::<_, WebError>::new(generic), addons)
    }};
}

async fn authorize(State(s): State<Shared>, req: OAuthRequest) -> Response {
    let res = {
        let mut o = s.lock().unwrap();
        AuthorizationFlow::prepare(endpoint!(&mut o)).and_then(|mut f| f.execute(req))
    };
    let mut res = match res {
        Ok(r) => r.into_response(),
        Err(e) => return e.into_response(),
    };
    // RFC 9207's `iss` on the callback: an unknown parameter reauth must ignore.
    if let Some(loc) = res
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    {
        let base = s.lock().unwrap().base.clone();
        let mut u = url::Url::parse(&loc).unwrap();
        u.query_pairs_mut().append_pair("iss", &base);
        res.headers_mut()
            .insert("location", u.as_str().parse().unwrap());
    }
    res
}

async fn token(State(s): State<Shared>, req: OAuthRequest) -> Response {
    let (res, base) = {
        let mut o = s.lock().unwrap();
        let base = o.base.clone();
        (
            AccessTokenFlow::prepare(endpoint!(&mut o)).and_then(|mut f| f.execute(req)),
            base,
        )
    };
    let res = match res {
        Ok(r) => r.into_response(),
        Err(e) => return e.into_response(),
    };
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let mut body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    if status == StatusCode::OK {
        body["id"] = format!("{base}/id/{ORG}/{USER}").into();
        body["instance_url"] = base.into();
    }
    (status, Json(body)).into_response()
}

async fn identity(
    State(s): State<Shared>,
    Path((org, user)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    let o = s.lock().unwrap();
    match o.issuer.recover_token(&token) {
        Ok(Some(g)) if g.owner_id == user => Json(serde_json::json!({ "organization_id": org, "user_id": user, "username": "admin@acme.com" })).into_response(),
        _ => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn start_other(callback: &str) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let mut registrar = ClientMap::new();
    registrar.register_client(Client::public(
        "other-client",
        RegisteredUrl::Exact(callback.parse().unwrap()),
        "api refresh_token".parse().unwrap(),
    ));
    let state: Shared = Arc::new(Mutex::new(Other {
        base: base.clone(),
        registrar,
        authorizer: AuthMap::new(RandomGenerator::new(16)),
        issuer: TokenMap::new(RandomGenerator::new(16)),
    }));
    let app = Router::new()
        .route("/services/oauth2/authorize", get(authorize))
        .route("/services/oauth2/token", post(token))
        .route("/id/{org}/{user}", get(identity))
        .with_state(state);
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (base, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconsent_works_against_another_standards_compliant_oauth_server() {
    let db = TestDb::sqlite().await;
    let csv = "org_id,name,admin_email\n00D4c0000008cs2,Acme Corp,admin@acme.com\n";
    reauth_tests::import_csv(&db.db, csv).await;

    // reauth's address must be known before the other server registers its callback.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let reauth_addr = probe.local_addr().unwrap();
    drop(probe);
    let (other, server) = start_other(&format!("http://{reauth_addr}/oauth/callback")).await;
    let mut config = Config::default();
    config.salesforce.client_id = Some("other-client".into()); // public client: PKCE only, no secret
    config.salesforce.login_url = other.clone();
    config.salesforce.extra_login_hosts = vec![other.trim_start_matches("http://").to_owned()];
    config.crypto.keys = vec![domain::security::crypto::Sealer::generate_key("k1")];
    let app = TestApp::spawn_at(&db, config, reauth_addr).await;

    let id = OrgId::parse(ORG).unwrap();
    let (secret, _) = domain::reconsent::links::create(
        &db.db,
        NewLink {
            org_id: &id,
            contact: None,
            ttl: std::time::Duration::from_secs(3600),
            notice_id: None,
        },
        &Actor::System,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let html = app
        .get(&format!("/r/{}", secret.expose()))
        .await
        .text()
        .await
        .unwrap();
    let doc = Html::parse_document(&html);
    let csrf = doc
        .select(&Selector::parse("input[name=csrf]").unwrap())
        .next()
        .unwrap()
        .value()
        .attr("value")
        .unwrap()
        .to_owned();
    let r = app
        .client
        .post(format!("{}/r/{}/start", app.base, secret.expose()))
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let auth = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(auth.starts_with(&other));
    let r = reauth_tests::http_client().get(&auth).send().await.unwrap();
    assert!(
        r.status().is_redirection(),
        "authorize answered {}",
        r.status()
    );
    let cb = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(cb.contains("iss="), "{cb}");
    let r = app.client.get(&cb).send().await.unwrap();
    let status = r.status();
    let page = Html::parse_document(&r.text().await.unwrap());
    let title: String = page
        .select(&Selector::parse("h1#title").unwrap())
        .next()
        .unwrap()
        .text()
        .collect();
    assert_eq!(
        (status.as_u16(), title.trim()),
        (200, "Acme Corp is connected")
    );
    assert_eq!(
        domain::registry::show(&db.db, &id).await.unwrap().org.state,
        domain::registry::state::OrgState::Verified
    );
    app.stop().await;
    server.abort();
}
