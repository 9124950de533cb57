//! The Tooling API's `InstalledSubscriberPackage`, `OauthToken`, and SOQL errors.

use reqwest::Method;
use serde_json::json;
use sfsim::InstalledPackage;

use crate::{client, connect, control, refresh, sim_with, soql};

const PACKAGES: &str = "SELECT Id, SubscriberPackageId, SubscriberPackage.Name, \
    SubscriberPackage.NamespacePrefix, SubscriberPackageVersion.Id, SubscriberPackageVersion.Name, \
    SubscriberPackageVersion.MajorVersion, SubscriberPackageVersion.MinorVersion, \
    SubscriberPackageVersion.PatchVersion, SubscriberPackageVersion.BuildNumber \
    FROM InstalledSubscriberPackage ORDER BY SubscriberPackageId";

#[tokio::test]
async fn installed_packages_answer_in_the_tooling_api_shape() {
    let sim = sim_with(|_| {}).await;
    let at = connect(&sim).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, b) = soql(&sim, "tooling/query", &at, PACKAGES).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        (b["totalSize"].as_u64(), b["done"].as_bool()),
        (Some(1), Some(true))
    );
    assert_eq!(b["entityTypeName"], "InstalledSubscriberPackage");
    let r = &b["records"][0];
    assert_eq!(r["attributes"]["type"], "InstalledSubscriberPackage");
    assert!(
        r["attributes"]["url"]
            .as_str()
            .unwrap()
            .starts_with("/services/data/v66.0/tooling/sobjects/InstalledSubscriberPackage/0A3")
    );
    assert_eq!(r["SubscriberPackageId"], "033000000000001AAA");
    assert_eq!(
        r["SubscriberPackage"]["attributes"]["type"],
        "SubscriberPackage"
    );
    assert_eq!(r["SubscriberPackage"]["Name"], "Reauth Connector");
    assert_eq!(r["SubscriberPackage"]["NamespacePrefix"], "reauth");
    let v = &r["SubscriberPackageVersion"];
    assert_eq!(v["Id"], "04t000000000001AAA");
    assert_eq!(
        (
            &v["MajorVersion"],
            &v["MinorVersion"],
            &v["PatchVersion"],
            &v["BuildNumber"]
        ),
        (&json!(2), &json!(0), &json!(0), &json!(1))
    );
    // The data API does not serve the Tooling object.
    let (s, b) = soql(&sim, "query", &at, PACKAGES).await;
    assert_eq!((s, b[0]["errorCode"].as_str()), (400, Some("INVALID_TYPE")));
}

#[tokio::test]
async fn installed_packages_are_set_per_org_through_config_and_control_api() {
    let sim = sim_with(|c| c.orgs[0].installed_packages.clear()).await;
    let at = connect(&sim).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, b) = soql(&sim, "tooling/query", &at, PACKAGES).await;
    assert_eq!(b["totalSize"], 0);
    let mut old = InstalledPackage::reauth_connector();
    old.version_id = "04t000000000000AAA".into();
    old.major = 1;
    let other = InstalledPackage {
        package_id: "033000000000009AAA".into(),
        name: "Other".into(),
        namespace_prefix: None,
        version_id: "04t000000000009AAA".into(),
        version_name: "Other 3.1".into(),
        major: 3,
        minor: 1,
        patch: 0,
        build: 4,
    };
    let (s, _) = control(
        &sim,
        Method::PUT,
        "/_sim/orgs/00D000000000001EAA/packages",
        Some(serde_json::to_value(vec![old, other]).unwrap()),
    )
    .await;
    assert_eq!(s, 204);
    let (_, b) = soql(
        &sim,
        "tooling/query",
        &at,
        "SELECT SubscriberPackageVersion.MajorVersion FROM InstalledSubscriberPackage \
         WHERE SubscriberPackage.NamespacePrefix = 'reauth'",
    )
    .await;
    assert_eq!(b["totalSize"], 1, "{b}");
    assert_eq!(
        b["records"][0]["SubscriberPackageVersion"]["MajorVersion"],
        1
    );
    assert!(sim.set_installed_packages("00D000000000001EAA", vec![]));
    assert!(!sim.set_installed_packages("00D000000000099EAA", vec![]));
}

#[tokio::test]
async fn queries_need_a_live_access_token_and_every_call_is_counted() {
    let sim = sim_with(|_| {}).await;
    let b = connect(&sim).await;
    let at = b["access_token"].as_str().unwrap();
    for path in ["query", "tooling/query"] {
        let (s, body) = soql(&sim, path, "00Dbogus!token", "SELECT Id FROM OauthToken").await;
        assert_eq!(
            (s, body[0]["errorCode"].as_str()),
            (401, Some("INVALID_SESSION_ID"))
        );
    }
    soql(&sim, "query", at, "SELECT Id FROM OauthToken").await;
    soql(&sim, "query", at, "SELECT Nope FROM OauthToken").await;
    let st = sim.stats();
    assert_eq!((st.rest_queries, st.invalid_session), (4, 2));
    // Revoked: the session dies with the grant.
    sim.revoke_user_grants("admin@acme.example");
    let (s, _) = soql(&sim, "tooling/query", at, PACKAGES).await;
    assert_eq!(s, 401);
}

#[tokio::test]
async fn oauth_token_rows_come_from_live_grants_with_label_use_count_and_delete_token() {
    let sim = sim_with(|_| {}).await;
    let b = connect(&sim).await;
    sim.mint_grant(
        "reauth-legacy",
        "admin@acme.example",
        &["api", "refresh_token"],
    )
    .unwrap();
    let (_, r) = refresh(&sim, b["refresh_token"].as_str().unwrap()).await;
    let at = r["access_token"].as_str().unwrap();
    let q = "SELECT AppName, UseCount, LastUsedDate, CreatedDate, DeleteToken, UserId FROM OauthToken \
             WHERE UserId = '005000000000001' ORDER BY AppName";
    let (s, body) = soql(&sim, "query", at, q).await;
    assert_eq!(s, 200, "{body}");
    let rows = body["records"].as_array().unwrap();
    let apps: Vec<(&str, u64)> = rows
        .iter()
        .map(|r| {
            (
                r["AppName"].as_str().unwrap(),
                r["UseCount"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(apps, [("Reauth", 2), ("Reauth Legacy", 1)]);
    assert_eq!(rows[0]["UserId"], "005000000000001AAA");
    assert!(rows[0]["LastUsedDate"].as_str().unwrap().ends_with("+0000"));
    // DeleteToken revokes the grant at the revoke endpoint, and its row goes.
    let legacy_delete = rows[1]["DeleteToken"].as_str().unwrap();
    let rv = client()
        .post(format!("{}/services/oauth2/revoke", sim.base_url()))
        .form(&[("token", legacy_delete)])
        .send()
        .await
        .unwrap();
    assert_eq!(rv.status(), 200);
    let (_, body) = soql(&sim, "query", at, q).await;
    assert_eq!(body["totalSize"], 1);
    let (_, body) = soql(&sim, "query", at, "SELECT COUNT() FROM OauthToken").await;
    assert_eq!(
        (
            body["totalSize"].as_u64(),
            body["records"].as_array().map(Vec::len)
        ),
        (Some(1), Some(0))
    );
}

#[tokio::test]
async fn a_user_without_admin_rights_sees_only_their_own_rows() {
    let sim = sim_with(|_| {}).await;
    connect(&sim).await; // admin@acme.example
    let mine = sim
        .mint_grant("reauth-legacy", "user@acme.example", &["api"])
        .unwrap();
    let (_, body) = soql(
        &sim,
        "query",
        &mine.access_token,
        "SELECT UserId FROM OauthToken",
    )
    .await;
    assert_eq!(body["totalSize"], 1, "{body}");
    assert_eq!(body["records"][0]["UserId"], "005000000000003AAA");
    let (_, body) = soql(
        &sim,
        "query",
        &mine.access_token,
        "SELECT Id FROM LoginHistory WHERE UserId = '005000000000001AAA'",
    )
    .await;
    assert_eq!(
        body["totalSize"], 0,
        "another user's logins are not visible"
    );
}

#[tokio::test]
async fn unsupported_or_invalid_soql_gets_salesforces_error_codes() {
    let sim = sim_with(|_| {}).await;
    let at = connect(&sim).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for (q, code) in [
        (
            "SELECT Id FROM LoginHistory WHERE UserId = 'a' OR UserId = 'b'",
            "MALFORMED_QUERY",
        ),
        (
            "SELECT Id FROM LoginHistory WHERE LoginTime > TODAY",
            "MALFORMED_QUERY",
        ),
        ("SELEKT Id FROM LoginHistory", "MALFORMED_QUERY"),
        (
            "SELECT Id FROM LoginHistory WHERE Status = 'Success'",
            "INVALID_FIELD",
        ),
        (
            "SELECT Id FROM LoginHistory WHERE LoginSubType = 'OauthRefreshToken'",
            "INVALID_FIELD",
        ),
        (
            "SELECT Id FROM LoginHistory WHERE LoginTime > '2026-12-01T10:00:00Z'",
            "INVALID_FIELD",
        ),
        ("SELECT Bogus FROM LoginHistory", "INVALID_FIELD"),
        ("SELECT Id FROM Account", "INVALID_TYPE"),
    ] {
        let (s, b) = soql(&sim, "query", &at, q).await;
        assert_eq!(
            (s, b[0]["errorCode"].as_str()),
            (400, Some(code)),
            "{q}: {b}"
        );
        assert!(b[0]["message"].is_string());
    }
}
