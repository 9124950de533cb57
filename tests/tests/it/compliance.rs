//! The compliance report (`domain::compliance::report`, `reauth compliance report`,
//! `/compliance`) on a database seeded with known numbers through reauth's own write paths:
//! two consents through sfsim and one older consent that never recorded its PKCE method, five
//! refreshes with one idle gap of 28 days, two staff users of whom one has no second factor, an
//! overdue encryption key and one open critical alert. Each figure is asserted exactly in JSON,
//! the Markdown and HTML carry them, and no secret appears in any format.

use std::time::Duration;

use domain::compliance::report::{self, Period, render};
use domain::events::Actor;
use domain::staff::Role;
use domain::types::OrgId;
use domain::vault::Trigger;
use reauth_tests::{TestDb, both_backends};
use sea_orm::{EntityTrait as _, PaginatorTrait as _};
use secrecy::ExposeSecret as _;
use serde_json::json;

use crate::reconsent_flow::{World, authorize_as, callback, connections, new_link, start};

const ACME: &str = "00D4c0000008cs2";
const SANDBOX: &str = "00D4c0000008cs3";
const CLIENT_SECRET: &str = "reauth-eca-secret";

/// The seeded world: what the test knows about it.
struct Seeded {
    w: World,
    /// The connection with the 28-day gap.
    idle_conn: i64,
}

fn days(n: u64) -> Duration {
    Duration::from_secs(n * 86_400)
}

async fn consent(w: &World, org: &str, admin: &str) {
    let secret = new_link(w, org).await;
    let cb = authorize_as(start(w, &secret).await, admin).await;
    assert_eq!(callback(w, &cb).await.0, 200);
}

async fn seed(db: TestDb) -> Seeded {
    let today = chrono::Utc::now().date_naive();
    let w = crate::reconsent_flow::world_custom(
        db,
        true,
        |_| {},
        |c| {
            c.salesforce.secret_rotated_at = Some(today - chrono::Duration::days(10));
            c.crypto.key_rotated_at = Some(today - chrono::Duration::days(400));
        },
    )
    .await;
    consent(&w, ACME, "admin@acme.com").await;
    consent(&w, SANDBOX, "admin@acme.com.uat").await;
    let conns = connections(&w).await;
    let id_of = |org: &str| {
        conns
            .iter()
            .find(|c| c.org_id.to_string().starts_with(org))
            .unwrap()
            .id
    };
    let (acme, sandbox) = (id_of(ACME), id_of(SANDBOX));
    let clock = &w.app.state.clock;
    // A consent from before reauth recorded the PKCE method.
    domain::events::record(
        &w.db.db,
        clock.now(),
        &Actor::Cli("import".into()),
        Some(&OrgId::parse(ACME).unwrap()),
        "consent.completed",
        json!({ "connection_id": 0 }),
    )
    .await
    .unwrap();
    let vault = w.app.state.vault.as_ref().unwrap();
    let refresh = |id| async move {
        vault.refresh(id, Trigger::Forced).await.unwrap().unwrap();
    };
    clock.advance(Duration::from_secs(30));
    refresh(acme).await;
    refresh(sandbox).await;
    clock.advance(days(14));
    refresh(sandbox).await;
    clock.advance(days(14));
    refresh(acme).await;
    refresh(sandbox).await;
    // The vault records exchanges on a task of its own.
    for _ in 0..100 {
        if domain::entity::exchange::Entity::find()
            .count(&w.db.db)
            .await
            .unwrap()
            >= 5
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    reauth_tests::staff::first_sign_in(&w.app, "alice@partner.example", Role::Admin).await;
    reauth_tests::staff::add(&w.app, "bob@partner.example", Role::Viewer).await;
    domain::alerts::raise(
        &w.db.db,
        "vault.lease_lost",
        domain::alerts::Severity::Critical,
        Some(&OrgId::parse(ACME).unwrap()),
        "A holder lost its lease.",
        json!({}),
        clock.now(),
    )
    .await
    .unwrap();
    Seeded { w, idle_conn: acme }
}

async fn build(s: &Seeded) -> report::Report {
    let now = s.w.app.state.clock.now();
    report::build(
        &s.w.db.db,
        &s.w.app.state.config,
        Period::last_30_days(now),
        now,
    )
    .await
    .unwrap()
}

both_backends!(
    the_report_shows_exactly_the_seeded_numbers_on,
    the_report_shows_exactly_the_seeded_numbers
);
async fn the_report_shows_exactly_the_seeded_numbers(db: TestDb) {
    let s = seed(db).await;
    let r = build(&s).await;
    let j = serde_json::to_value(&r).unwrap();
    let share = |yes: u64, no: u64, nr: u64, pct: Option<f64>, verdict: &str| json!({ "total": yes + no + nr, "yes": yes, "no": no, "not_recorded": nr, "percent": pct, "verdict": verdict });
    assert_eq!(j["pkce"], share(2, 0, 1, Some(100.0), "pass"));
    assert_eq!(j["rotation"], share(5, 0, 0, Some(100.0), "pass"));
    assert_eq!(j["idle"]["connections"], 2);
    assert_eq!(j["idle"]["longest_days"], 28.0);
    assert_eq!(j["idle"]["longest_connection_id"], s.idle_conn);
    assert_eq!(j["idle"]["longest_org_id"], format!("{ACME}EAA"));
    assert_eq!(j["idle"]["timeout_days"], 30.0);
    assert_eq!(j["idle"]["near_days"], 27.0);
    assert_eq!(j["idle"]["near_limit"], 1);
    assert_eq!(j["idle"]["verdict"], "fail");
    assert_eq!(
        j["egress"]["share"],
        share(0, 0, 5, None, "no_data"),
        "the monitor never ran"
    );
    assert_eq!(j["egress"]["exchanges"], 5);
    assert_eq!(
        j["at_rest"]["sealed"], 3,
        "two connections and one TOTP secret"
    );
    assert_eq!(j["at_rest"]["unsealed"], 0);
    assert_eq!(j["at_rest"]["by_key"], json!([["k1", 3]]));
    assert_eq!(j["at_rest"]["verdict"], "pass");
    assert_eq!(
        j["staff"],
        json!({ "active": 2, "with_two_factor": 1, "without": ["bob@partner.example"], "verdict": "fail" })
    );
    let secret = &j["client_secrets"][0];
    assert_eq!(secret["subject"], "eca_client_secret");
    assert_eq!(secret["age_days"], 38);
    assert_eq!(secret["every_days"], 90);
    assert_eq!(secret["verdict"], "pass");
    assert_eq!(j["encryption_key"]["newest"], "k1");
    assert_eq!(j["encryption_key"]["age_days"], 428);
    assert_eq!(j["encryption_key"]["every_days"], 365);
    assert_eq!(j["encryption_key"]["verdict"], "fail");
    assert_eq!(
        j["alerts"],
        json!({ "open_critical": 1, "acknowledged": 0, "kinds": [["vault.lease_lost", 1]], "verdict": "fail" })
    );
    assert_eq!(j["summary"], json!({ "pass": 4, "fail": 4, "no_data": 1 }));
    assert!(r.fails());
    s.w.app.stop().await;
}

both_backends!(
    markdown_and_html_carry_the_numbers_and_no_secret_on,
    markdown_and_html_carry_the_numbers_and_no_secret
);
async fn markdown_and_html_carry_the_numbers_and_no_secret(db: TestDb) {
    let s = seed(db).await;
    let r = build(&s).await;
    let md = render::markdown(&r).unwrap();
    let html = render::html(&r).unwrap();
    let js = render::json(&r).unwrap();
    for line in [
        "| Consents that used PKCE S256 | PASS | 2 of 2 consents (100%); 1 not recorded |",
        "| Refreshes where Salesforce rotated the refresh token | PASS | 5 of 5 refreshes (100%) |",
        "| Staff with two-factor sign-in | FAIL | 1 of 2 staff; without: bob@partner.example |",
        "| Open critical alerts | FAIL | 1 open: vault.lease_lost (1) |",
        "**Summary:** 4 pass, 4 fail, 1 no data.",
    ] {
        assert!(md.contains(line), "{line}\n---\n{md}");
    }
    for text in [
        &format!(
            "longest gap 28 days (org {ACME}EAA, connection {})",
            s.idle_conn
        ),
        "1 of 2 connections came within 3 days of it",
        "3 of 3 rows sealed; under key k1 (3)",
        "encryption_key (newest k1): rotated",
        "428 days ago; policy every 365 days",
        "## How secrets are secured",
    ] {
        assert!(md.contains(text), "{text}\n---\n{md}");
    }
    for text in [
        "2 of 2 consents (100%); 1 not recorded",
        "1 of 2 staff; without: bob@partner.example",
        "longest gap 28 days",
        "How secrets are secured",
        "<span class=\"verdict fail\">4 fail</span>",
    ] {
        assert!(html.contains(text), "{text}\n---\n{html}");
    }
    let key = s.w.app.state.config.crypto.keys[0]
        .expose_secret()
        .to_owned();
    let (_, key_b64) = key.split_once(':').unwrap();
    for (name, doc) in [("md", &md), ("html", &html), ("json", &js)] {
        assert!(
            !doc.contains(CLIENT_SECRET),
            "{name} carries the client secret"
        );
        assert!(!doc.contains(key_b64), "{name} carries the encryption key");
    }
    let fp = domain::salesforce::SfClient::fingerprint(&CLIENT_SECRET.to_owned().into());
    assert!(md.contains(&fp), "the secret is named by its fingerprint");
    s.w.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_with_nothing_recorded_says_no_data_rather_than_pass() {
    let db = TestDb::sqlite().await;
    let config = domain::config::Config::default();
    let now = chrono::Utc::now();
    let r = report::build(&db.db, &config, Period::last_30_days(now), now)
        .await
        .unwrap();
    let j = serde_json::to_value(&r).unwrap();
    for check in [
        "pkce",
        "rotation",
        "idle",
        "at_rest",
        "staff",
        "encryption_key",
    ] {
        assert_eq!(j[check]["verdict"], "no_data", "{check}: {}", j[check]);
    }
    assert_eq!(j["egress"]["share"]["verdict"], "no_data");
    assert_eq!(
        j["client_secrets"][0]["verdict"], "no_data",
        "a public client"
    );
    assert_eq!(j["pkce"]["percent"], serde_json::Value::Null);
    assert_eq!(j["summary"], json!({ "pass": 1, "fail": 0, "no_data": 8 }));
}

#[tokio::test]
async fn the_cli_prints_json_exits_1_on_a_failed_check_and_2_on_a_bad_from() {
    let db = TestDb::sqlite().await;
    let dir = db.dir().unwrap().to_owned();
    let env = [("REAUTH_DATABASE_URL", db.url.as_str())];
    let (code, out, err) =
        reauth_tests::run_reauth(&dir, &["compliance", "report", "--format", "json"], &env);
    assert_eq!(code, 0, "nothing fails on an empty database: {err}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["summary"]["fail"], 0);

    domain::staff::add(
        &db.db,
        &domain::types::Email::parse("bob@partner.example").unwrap(),
        Role::Viewer,
        &secrecy::SecretString::from("a one-time password"),
        &Actor::Cli("t".into()),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let (code, out, _) = reauth_tests::run_reauth(&dir, &["compliance", "report"], &env);
    assert_eq!(code, 1, "a staff user without two-factor fails the report");
    assert!(
        out.contains(
            "| Staff with two-factor sign-in | FAIL | 0 of 1 staff; without: bob@partner.example |"
        ),
        "{out}"
    );

    let (code, out, err) = reauth_tests::run_reauth(
        &dir,
        &["compliance", "report", "--from", "last tuesday"],
        &env,
    );
    assert_eq!(code, 2);
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("--from `last tuesday` is not a date (2026-11-01) or an RFC 3339 date-time"),
        "{err}"
    );
    let (code, _, err) = reauth_tests::run_reauth(
        &dir,
        &[
            "compliance",
            "report",
            "--from",
            "2026-12-01",
            "--to",
            "2026-11-01",
        ],
        &env,
    );
    assert_eq!(code, 2);
    assert!(err.contains("must be before --to"), "{err}");
}

/// The `/compliance` page as staff see it, signed in through Chromium (the screenshot in
/// `docs/screenshots/compliance-report.png`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compliance_page_shows_the_report_in_chromium() {
    use fantoccini::Locator;
    let Some((_driver, url)) = crate::browser::start_driver().await else {
        return;
    };
    let s = seed(TestDb::sqlite().await).await;
    let otp = reauth_tests::staff::add(&s.w.app, "casey@partner.example", Role::Viewer).await;
    let (client, _profile) = crate::browser::chromium(&url, "1280,900").await;
    let shots = crate::browser::screenshots_dir();
    std::fs::create_dir_all(&shots).unwrap();
    let base = s.w.app.base.clone();
    let app = &s.w.app;
    let result: Result<(), fantoccini::error::CmdError> = async {
        crate::browser::first_sign_in(
            &client,
            app,
            &format!("{base}/compliance"),
            "casey@partner.example",
            &otp,
        )
        .await?;
        client.goto(&format!("{base}/compliance")).await?;
        let row = client
            .wait()
            .for_element(Locator::Css(
                "tr[data-check='Consents that used PKCE S256'] td.figure",
            ))
            .await?;
        assert_eq!(row.text().await?, "2 of 2 consents (100%); 1 not recorded");
        let staff = client
            .find(Locator::Css(
                "tr[data-check='Staff with two-factor sign-in'] td.figure",
            ))
            .await?
            .text()
            .await?;
        assert_eq!(staff, "2 of 3 staff; without: bob@partner.example");
        std::fs::write(
            shots.join("compliance-report.png"),
            client.screenshot().await?,
        )
        .unwrap();
        Ok(())
    }
    .await;
    client.close().await.ok();
    result.unwrap();
    s.w.app.stop().await;
}
