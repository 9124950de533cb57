//! `LoginHistory` as a token-use monitor reads it: the row fields, the filters Salesforce allows,
//! ordering, and paging through `nextRecordsUrl`.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;
use sfsim::{CountryRange, Sim};

use crate::{CALLBACK, authorize, client, connect, err, pkce, refresh, sim_with, soql};

const MONITOR: &str = "SELECT Id, LoginTime, SourceIp, Status, Application, LoginSubType, \
    LoginType, CountryIso, UserId, ClientVersion, Platform FROM LoginHistory \
    WHERE UserId = '005000000000001AAA' AND LoginType = 'Remote Access 2.0'";

async fn refresh_from(sim: &Sim, rt: &str, ip: &str, secret: &str) -> (u16, Value) {
    let r = client()
        .post(format!("{}/services/oauth2/token", sim.base_url()))
        .header("x-forwarded-for", ip)
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", "reauth-eca"),
            ("client_secret", secret),
        ])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn rows(body: &Value) -> Vec<Value> {
    body["records"].as_array().unwrap().clone()
}

#[tokio::test]
async fn rows_carry_source_ip_app_label_subtype_status_and_country() {
    let sim = sim_with(|c| {
        c.settings.trust_forwarded_for = true;
        c.settings.default_country = "FR".into();
        c.settings.countries = vec![
            CountryRange {
                cidr: "203.0.113.0/24".parse().unwrap(),
                country: "DE".into(),
            },
            CountryRange {
                cidr: "203.0.113.128/25".parse().unwrap(),
                country: "AT".into(),
            },
        ];
    })
    .await;
    let (verifier, challenge) = pkce();
    let q = authorize(&sim, &[("code_challenge", &challenge)]).await;
    let r = client()
        .post(format!("{}/services/oauth2/token", sim.base_url()))
        .header("x-forwarded-for", "203.0.113.9, 10.0.0.1")
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", q["code"].as_str()),
            ("client_id", "reauth-eca"),
            ("client_secret", "reauth-eca-secret"),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let b: Value = r.json().await.unwrap();
    sim.advance_clock(Duration::from_secs(1));
    let (_, r) = refresh_from(
        &sim,
        b["refresh_token"].as_str().unwrap(),
        "203.0.113.200",
        "reauth-eca-secret",
    )
    .await;
    let at = r["access_token"].as_str().unwrap();
    let (s, body) = soql(&sim, "query", at, &format!("{MONITOR} ORDER BY LoginTime")).await;
    assert_eq!(s, 200, "{body}");
    let rows = rows(&body);
    assert_eq!(rows.len(), 2);
    let pick = |r: &Value, k: &str| r[k].as_str().unwrap_or_default().to_owned();
    assert_eq!(
        [
            "SourceIp",
            "CountryIso",
            "LoginSubType",
            "Status",
            "Application",
            "LoginType"
        ]
        .map(|k| pick(&rows[0], k)),
        [
            "203.0.113.9",
            "DE",
            "OauthWebServer",
            "Success",
            "Reauth",
            "Remote Access 2.0"
        ]
    );
    assert_eq!(
        ["SourceIp", "CountryIso", "LoginSubType"].map(|k| pick(&rows[1], k)),
        ["203.0.113.200", "AT", "OauthRefreshToken"]
    );
    assert_eq!(rows[1]["UserId"], "005000000000001AAA");
    assert!(rows[1]["Id"].as_str().unwrap().starts_with("0Ya"));
    assert!(
        rows[1]["ClientVersion"].is_null(),
        "fields sfsim does not model are null"
    );
    // Outside every range: the default country.
    refresh_from(
        &sim,
        r["refresh_token"].as_str().unwrap(),
        "192.0.2.1",
        "reauth-eca-secret",
    )
    .await;
    let last = sim.login_history().pop().unwrap();
    assert_eq!(
        (last.source_ip.as_str(), last.country_iso.as_str()),
        ("192.0.2.1", "FR")
    );
}

#[tokio::test]
async fn refused_refreshes_write_their_failure_status() {
    let sim = sim_with(|c| {
        c.settings.trust_forwarded_for = true;
        c.clients[0].ip_allowlist = vec!["127.0.0.0/8".parse().unwrap()];
        c.faults.latency = Some(Duration::from_millis(300));
    })
    .await;
    let rt = connect(&sim).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, b) = refresh_from(&sim, &rt, "198.51.100.7", "reauth-eca-secret").await;
    assert_eq!((s, err(&b).1), (400, "ip restricted"));
    let (s, b) = refresh_from(&sim, &rt, "127.0.0.2", "wrong").await;
    assert_eq!((s, err(&b).0), (400, "invalid_client"));
    let (a, b) = tokio::join!(refresh(&sim, &rt), refresh(&sim, &rt));
    assert_eq!([a.0, b.0].iter().filter(|s| **s == 200).count(), 1);
    let statuses: Vec<(String, String)> = sim
        .login_history()
        .into_iter()
        .map(|r| (r.status, r.source_ip))
        .collect();
    for want in [
        ("Restricted IP", "198.51.100.7"),
        ("Invalid client credentials", "127.0.0.2"),
        (
            "Failed: Token request is already being processed",
            "127.0.0.1",
        ),
    ] {
        assert!(
            statuses
                .iter()
                .any(|(s, ip)| (s.as_str(), ip.as_str()) == want),
            "{want:?} in {statuses:?}"
        );
    }
}

#[tokio::test]
async fn the_monitor_filters_by_user_login_type_and_login_time_and_orders_by_time() {
    let sim = sim_with(|_| {}).await;
    let mut rt = connect(&sim).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut times = vec![];
    for _ in 0..4 {
        sim.advance_clock(Duration::from_secs(60));
        let (_, b) = refresh(&sim, &rt).await;
        rt = b["refresh_token"].as_str().unwrap().to_owned();
        times.push(b["issued_at"].as_str().unwrap().parse::<i64>().unwrap());
    }
    // Between the second and the third refresh.
    let watermark = chrono::DateTime::from_timestamp_millis(times[1] + 30_000).unwrap();
    let literal = watermark.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let at = {
        let (_, b) = refresh(&sim, &rt).await;
        b["access_token"].as_str().unwrap().to_owned()
    };
    let (s, body) = soql(
        &sim,
        "query",
        &at,
        &format!("{MONITOR} AND LoginTime > {literal} ORDER BY LoginTime"),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let got = rows(&body);
    assert_eq!(got.len(), 3, "refreshes 3, 4 and the last one: {body}");
    let t: Vec<&str> = got
        .iter()
        .map(|r| r["LoginTime"].as_str().unwrap())
        .collect();
    assert!(t.windows(2).all(|w| w[0] <= w[1]), "ascending: {t:?}");
    let (_, body) = soql(
        &sim,
        "query",
        &at,
        &format!("{MONITOR} ORDER BY LoginTime DESC LIMIT 2"),
    )
    .await;
    let got = rows(&body);
    assert_eq!((body["totalSize"].as_u64(), got.len()), (Some(2), 2));
    assert!(got[0]["LoginTime"].as_str() >= got[1]["LoginTime"].as_str());
    let (_, body) = soql(
        &sim,
        "query",
        &at,
        "SELECT Id FROM LoginHistory WHERE LoginType = 'Application'",
    )
    .await;
    assert_eq!(body["totalSize"], 0);
}

#[tokio::test]
async fn answers_beyond_the_batch_size_page_through_next_records_url() {
    let sim = sim_with(|c| c.settings.query_batch_size = 3).await;
    let mut rt = connect(&sim).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut at = String::new();
    for _ in 0..6 {
        let (_, b) = refresh(&sim, &rt).await;
        rt = b["refresh_token"].as_str().unwrap().to_owned();
        at = b["access_token"].as_str().unwrap().to_owned();
    }
    let before = sim.stats().rest_queries;
    let (_, first) = soql(&sim, "query", &at, &format!("{MONITOR} ORDER BY LoginTime")).await;
    assert_eq!(
        (first["totalSize"].as_u64(), first["done"].as_bool()),
        (Some(7), Some(false))
    );
    let mut ids: Vec<String> = vec![];
    let mut page = first;
    let mut pages = 1;
    loop {
        ids.extend(
            rows(&page)
                .iter()
                .map(|r| r["Id"].as_str().unwrap().to_owned()),
        );
        let Some(next) = page["nextRecordsUrl"].as_str().map(str::to_owned) else {
            assert_eq!(page["done"], true);
            break;
        };
        assert!(next.starts_with("/services/data/v66.0/query/01g"), "{next}");
        let r = client()
            .get(format!("{}{next}", sim.base_url()))
            .bearer_auth(&at)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        page = r.json().await.unwrap();
        pages += 1;
    }
    assert_eq!((pages, ids.len()), (3, 7));
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 7);
    assert_eq!(
        sim.stats().rest_queries - before,
        3,
        "every page is an API call"
    );
    let r = client()
        .get(format!(
            "{}/services/data/v66.0/query/01gNOPE-3",
            sim.base_url()
        ))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b[0]["errorCode"], "INVALID_QUERY_LOCATOR");
}

#[tokio::test]
async fn a_batch_size_header_overrides_the_setting_within_salesforces_range() {
    let sim = sim_with(|c| c.settings.query_batch_size = 3).await;
    let mut rt = connect(&sim).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut at = String::new();
    for _ in 0..6 {
        let (_, b) = refresh(&sim, &rt).await;
        rt = b["refresh_token"].as_str().unwrap().to_owned();
        at = b["access_token"].as_str().unwrap().to_owned();
    }
    // 5 is raised to Salesforce's minimum of 200, 9999 lowered to 2000: all 7 rows at once.
    for asked in ["batchSize=5", "batchSize=9999"] {
        let r = client()
            .get(format!("{}/services/data/v66.0/query", sim.base_url()))
            .query(&[("q", MONITOR)])
            .header("Sforce-Query-Options", asked)
            .bearer_auth(&at)
            .send()
            .await
            .unwrap();
        let b: Value = r.json().await.unwrap();
        assert_eq!(
            (b["done"].as_bool(), rows(&b).len()),
            (Some(true), 7),
            "{asked}"
        );
    }
    let (_, b) = soql(&sim, "query", &at, MONITOR).await;
    assert_eq!(
        (b["done"].as_bool(), rows(&b).len()),
        (Some(false), 3),
        "the setting"
    );
}

#[tokio::test]
async fn a_query_cursor_closes_after_fifteen_idle_minutes() {
    let sim = sim_with(|c| {
        c.settings.query_batch_size = 1;
        c.clients[0].session_timeout = Duration::from_secs(86_400);
    })
    .await;
    let b = connect(&sim).await;
    let (_, b) = refresh(&sim, b["refresh_token"].as_str().unwrap()).await;
    let at = b["access_token"].as_str().unwrap();
    let (_, first) = soql(&sim, "query", at, MONITOR).await;
    let next = first["nextRecordsUrl"].as_str().unwrap().to_owned();
    sim.advance_clock(Duration::from_secs(16 * 60));
    let r = client()
        .get(format!("{}{next}", sim.base_url()))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()[0]["errorCode"],
        "INVALID_QUERY_LOCATOR"
    );
}
