//! The one error model on the real server: an internal fault is the generic page (or JSON) with
//! the request id and one log line, a caller's mistake shows its own message, and unknown paths
//! get a 404 page of their route's kind.

use domain::config::Config;
use domain::events::Actor;
use domain::staff::Role;
use reauth_tests::staff::{StaffClient, first_sign_in};
use reauth_tests::{TestApp, TestDb, both_backends};
use scraper::{Html, Selector};

use crate::logs::Captured;
use sea_orm::ConnectionTrait;
use secrecy::ExposeSecret;
use serde_json::Value;

const ORGS: &str =
    "org_id,name,environment,admin_email\n00D4c0000008cs2,Acme Corp,production,admin@acme.com\n";
const ACME: &str = "00D4c0000008cs2";

fn config() -> Config {
    let mut c = Config::default();
    c.salesforce.client_id = Some("test-client".into());
    c.crypto.keys = vec![domain::security::crypto::Sealer::generate_key("k1")];
    c
}

fn text(doc: &Html, css: &str) -> Option<String> {
    let sel = Selector::parse(css).unwrap();
    doc.select(&sel)
        .next()
        .map(|e| e.text().collect::<String>().trim().to_owned())
}

/// (status, request id, headers, body) of a GET.
async fn fetch(
    client: &reqwest::Client,
    url: &str,
) -> (u16, String, reqwest::header::HeaderMap, String) {
    let r = client.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let id = headers["x-request-id"].to_str().unwrap().to_owned();
    (status, id, headers, r.text().await.unwrap())
}

/// Renames a table away, so the next query of it fails inside reauth.
async fn break_table(db: &TestDb, table: &str) {
    db.db
        .execute_unprepared(&format!("ALTER TABLE {table} RENAME TO {table}_gone"))
        .await
        .unwrap();
}

/// An error page as the existing page checks want it: HTML, never stored, under the CSP.
fn assert_is_a_page(headers: &reqwest::header::HeaderMap) {
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(headers["cache-control"], "no-store");
    assert!(headers.contains_key("content-security-policy"));
}

/// The one ERROR line of a request, and the cause it logged (what must never be shown).
fn logged_once(log: &Captured, request_id: &str) -> String {
    let lines = log.errors_of(request_id);
    assert_eq!(lines.len(), 1, "logged exactly once: {lines:#?}");
    let cause = lines[0]
        .split_once("error=")
        .map(|(_, c)| c.trim().to_owned())
        .unwrap_or_default();
    assert!(
        cause.contains("waves") || cause.contains("links") || cause.contains("connections"),
        "the log line carries the cause: {}",
        lines[0]
    );
    cause
}

/// Acme in the registry, an API key for the token API, the app, and an operator signed in.
async fn acme_app_and_operator(db: &TestDb) -> (TestApp, StaffClient, String) {
    reauth_tests::import_csv(&db.db, ORGS).await;
    let (key, _) = domain::security::api_keys::create(
        &db.db,
        "billing",
        &Actor::Cli("t".into()),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let app = TestApp::spawn(db, config()).await;
    let op = first_sign_in(&app, "op@partner.example", Role::Operator).await;
    (app, op, key.expose_secret().to_owned())
}

async fn internal_faults_show_the_generic_page_and_are_logged_once(db: TestDb) {
    let log = Captured::install();
    let (app, op, key) = acme_app_and_operator(&db).await;

    // A dashboard page: the staff error page, with the navigation and the request id.
    break_table(&db, "waves").await;
    let (s, id, headers, body) = fetch(&op.client, &format!("{}/waves", app.base)).await;
    assert_eq!(s, 500, "{body}");
    assert_is_a_page(&headers);
    let doc = Html::parse_document(&body);
    assert_eq!(
        text(&doc, "h1#problem").as_deref(),
        Some("Something went wrong on our side")
    );
    assert_eq!(text(&doc, "#request-id"), Some(id.clone()));
    assert!(text(&doc, "#who").unwrap().contains("op@partner.example"));
    assert_eq!(text(&doc, "#error-message"), None, "no text of the fault");
    let cause = logged_once(&log, &id);
    assert!(!body.contains(&cause), "the cause stays in the log: {body}");

    // A customer page: the partner's page, no dashboard, the request id.
    break_table(&db, "links").await;
    let secret = domain::security::crypto::random_token();
    let (s, id, headers, body) = fetch(
        &reauth_tests::http_client(),
        &format!("{}/r/{secret}", app.base),
    )
    .await;
    assert_eq!(s, 500, "{body}");
    assert_is_a_page(&headers);
    let doc = Html::parse_document(&body);
    assert_eq!(
        text(&doc, "h1#title").as_deref(),
        Some("Something went wrong on our side")
    );
    assert_eq!(text(&doc, "#request-id"), Some(id.clone()));
    assert_eq!(text(&doc, "nav.top"), None, "no dashboard for a customer");
    let cause = logged_once(&log, &id);
    assert!(!body.contains(&cause), "the cause stays in the log: {body}");

    // The token API: JSON with the request id.
    break_table(&db, "connections").await;
    let r = reauth_tests::http_client()
        .get(format!("{}/api/v1/orgs/{ACME}/access-token", app.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "internal");
    assert_eq!(body["message"], "something went wrong on our side");
    assert_eq!(body["request_id"], id.as_str());
    let cause = logged_once(&log, &id);
    assert!(!body.to_string().contains(&cause), "{body}");
    app.stop().await;
}

both_backends!(
    an_internal_fault_renders_the_generic_page_or_json_with_the_request_id_and_logs_once,
    internal_faults_show_the_generic_page_and_are_logged_once
);

async fn caller_mistakes_show_their_own_message(db: TestDb) {
    let log = Captured::install();
    let (app, op, key) = acme_app_and_operator(&db).await;

    let (_, _, home) = op.get("/").await;
    let csrf = reauth_tests::staff::csrf_in(&home);
    let r = op
        .client
        .post(format!("{}/orgs/{ACME}/notes", app.base))
        .form(&[("csrf", csrf.as_str()), ("note", "  ")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_is_a_page(r.headers());
    let doc = Html::parse_document(&r.text().await.unwrap());
    assert_eq!(
        text(&doc, "h1#problem").as_deref(),
        Some("That did not work")
    );
    assert_eq!(
        text(&doc, "#error-message").as_deref(),
        Some("a note cannot be empty")
    );
    assert!(text(&doc, "#who").unwrap().contains("op@partner.example"));
    assert!(
        log.errors_of(&id).is_empty(),
        "a mistake is no fault of ours"
    );

    // A job that does not exist is a 404 that says so.
    let (s, id, _, body) = fetch(&op.client, &format!("{}/jobs/999", app.base)).await;
    assert_eq!(s, 404);
    let doc = Html::parse_document(&body);
    assert_eq!(text(&doc, "h1#problem").as_deref(), Some("Not found"));
    assert_eq!(
        text(&doc, "#error-message").as_deref(),
        Some("There is no job 999.")
    );
    assert!(log.errors_of(&id).is_empty());

    // The token API: the specific message, as JSON with the request id.
    let r = reauth_tests::http_client()
        .post(format!(
            "{}/api/v1/orgs/{ACME}/access-token/refresh",
            app.base
        ))
        .bearer_auth(&key)
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "bad_request");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("the body must be empty or a JSON object"),
        "{body}"
    );
    assert_eq!(body["request_id"], id.as_str());
    assert!(log.errors_of(&id).is_empty());
    app.stop().await;
}

both_backends!(
    a_user_mistake_renders_its_specific_message,
    caller_mistakes_show_their_own_message
);

#[tokio::test]
async fn unknown_paths_get_a_404_page_of_their_kind() {
    let db = TestDb::sqlite().await;
    let app = TestApp::spawn(&db, config()).await;
    let browser = reauth_tests::http_client();

    // The dashboard's: the navigation, a sentence, what to do.
    let (s, id, headers, body) = fetch(&browser, &format!("{}/no/such/page", app.base)).await;
    assert_eq!(s, 404);
    assert_is_a_page(&headers);
    let doc = Html::parse_document(&body);
    assert_eq!(
        text(&doc, "h1#problem").as_deref(),
        Some("There is no such page")
    );
    let nav = Selector::parse("nav.top a[href='/orgs']").unwrap();
    assert_eq!(doc.select(&nav).count(), 1, "the navigation is there");
    assert_eq!(text(&doc, "#sign-out"), None, "nobody is signed in");
    assert_eq!(text(&doc, "#request-id"), Some(id));

    // The customer's: the partner's branding, no dashboard.
    let (s, _, headers, body) = fetch(&browser, &format!("{}/r/a/b", app.base)).await;
    assert_eq!(s, 404);
    assert_is_a_page(&headers);
    let doc = Html::parse_document(&body);
    assert_eq!(
        text(&doc, "h1#title").as_deref(),
        Some("We can't find this page")
    );
    assert!(text(&doc, ".brand-name").is_some());
    assert_eq!(text(&doc, "nav.top"), None);

    // The API's: JSON.
    let r = browser
        .get(format!("{}/api/v1/nothing", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "no_route");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("no such endpoint")
    );
    assert_eq!(body["request_id"], id.as_str());
    // The body is what the OpenAPI document promises for every error.
    let doc: Value = browser
        .get(format!("{}/api/openapi.json", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schema = jsonschema::validator_for(&doc["components"]["schemas"]["Error"]).unwrap();
    assert!(schema.is_valid(&body), "{body}");
    assert!(!schema.is_valid(&serde_json::json!({"error": "no_route", "message": "m"})));
    app.stop().await;
}
