//! `reauth audit metadata` run as a binary over the fixture projects in `tests/fixtures/metadata/`:
//! exactly the expected findings in text, JSON and SARIF; the SARIF valid against the official
//! SARIF 2.1.0 schema committed in `tests/fixtures/`; the exit codes; and the registry's count of
//! orgs still on the legacy app.

use std::path::{Path, PathBuf};

use reauth_tests::{TestDb, run_reauth};
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/metadata")
        .join(name)
}

/// Runs `reauth audit metadata FIXTURE ARGS…` in an empty directory.
fn audit(name: &str, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = fixture(name);
    let mut all = vec!["audit", "metadata", path.to_str().unwrap()];
    all.extend_from_slice(args);
    run_reauth(dir.path(), &all, env)
}

/// (file, line, rule, severity, app) of one finding.
type Row = (
    &'static str,
    u32,
    &'static str,
    &'static str,
    Option<&'static str>,
);
type Owned = (String, u32, String, String, Option<String>);

const CA: &str = "force-app/main/default/connectedApps/Legacy_Sync.connectedApp-meta.xml";
const HEADER: &str = "force-app/main/default/externalClientApps/Reauth_Bad.eca-meta.xml";
const MISNAMED: &str =
    "force-app/main/default/externalClientApps/Reauth_Bad.externalClientApp-meta.xml";
const OAUTH: &str =
    "force-app/main/default/extlClntAppOauthSettings/Reauth_Bad_oauth.ecaOauth-meta.xml";
const ORG: &str = "force-app/main/default/settings/OauthOidc.settings-meta.xml";
const GLOBAL: &str =
    "retrieved/extlClntAppGlobalOauthSets/Reauth_Bad_glbloauth.ecaGlblOauth-meta.xml";
const POLICY: &str =
    "retrieved/extlClntAppOauthPolicies/Reauth_Bad_oauthPlcy.ecaOauthPlcy-meta.xml";
const LEGACY: Option<&str> = Some("Legacy_Sync");
const BAD: Option<&str> = Some("Reauth_Bad");

/// Every finding of `violations/`, in output order (file, line, rule).
const VIOLATIONS: [Row; 36] = [
    (CA, 2, "RA018-legacy-connected-app", "warning", LEGACY),
    (CA, 5, "RA001-pkce-required", "error", LEGACY),
    (CA, 5, "RA005-refresh-token-ip-allowlist", "note", LEGACY),
    (CA, 5, "RA006-device-flow-off", "note", LEGACY),
    (CA, 7, "RA014-localhost-callback-mixed", "warning", LEGACY),
    (CA, 8, "RA015-https-callback", "error", LEGACY),
    (CA, 10, "RA017-secret-in-metadata", "error", LEGACY),
    (CA, 12, "RA007-client-credentials-off", "error", LEGACY),
    (CA, 13, "RA016-client-type-consistency", "warning", LEGACY),
    (CA, 15, "RA002-refresh-token-rotation", "error", LEGACY),
    (CA, 16, "RA007-client-credentials-off", "error", LEGACY),
    (CA, 18, "RA012-full-scope", "error", LEGACY),
    (CA, 20, "RA013-web-scope", "warning", LEGACY),
    (CA, 23, "RA004-ip-relaxation", "error", LEGACY),
    (CA, 24, "RA002-refresh-token-rotation", "error", LEGACY),
    (CA, 25, "RA003-refresh-token-policy", "error", LEGACY),
    (HEADER, 2, "RA005-refresh-token-ip-allowlist", "note", BAD),
    (MISNAMED, 1, "RA020-unrecognised-file", "warning", None),
    (OAUTH, 3, "RA012-full-scope", "error", BAD),
    (OAUTH, 3, "RA013-web-scope", "warning", BAD),
    (
        ORG,
        3,
        "RA008-username-password-flow-blocked",
        "warning",
        None,
    ),
    (ORG, 4, "RA009-user-agent-flow-blocked", "warning", None),
    (GLOBAL, 4, "RA014-localhost-callback-mixed", "warning", BAD),
    (GLOBAL, 5, "RA015-https-callback", "error", BAD),
    (GLOBAL, 7, "RA017-secret-in-metadata", "error", BAD),
    (GLOBAL, 9, "RA007-client-credentials-off", "error", BAD),
    (GLOBAL, 12, "RA006-device-flow-off", "error", BAD),
    (GLOBAL, 14, "RA001-pkce-required", "error", BAD),
    (GLOBAL, 15, "RA002-refresh-token-rotation", "error", BAD),
    (GLOBAL, 16, "RA016-client-type-consistency", "warning", BAD),
    (
        GLOBAL,
        18,
        "RA011-consumer-key-rotation-on-deploy",
        "error",
        BAD,
    ),
    (
        GLOBAL,
        19,
        "RA010-consumer-secret-rotation-on-deploy",
        "error",
        BAD,
    ),
    (POLICY, 3, "RA007-client-credentials-off", "error", BAD),
    (POLICY, 5, "RA004-ip-relaxation", "warning", BAD),
    (POLICY, 6, "RA007-client-credentials-off", "error", BAD),
    (POLICY, 11, "RA003-refresh-token-policy", "error", BAD),
];

const COMPLIANT: [Row; 1] = [(
    "retrieved/extlClntAppOauthSecuritySettings/Reauth_ECA_oauthSecurity.ecaOauthSecurity-meta.xml",
    6,
    "RA005-refresh-token-ip-allowlist",
    "note",
    Some("Reauth_ECA"),
)];

const MALFORMED: [Row; 2] = [
    (
        "force-app/main/default/connectedApps/Broken.connectedApp-meta.xml",
        7,
        "RA000-unparsable-file",
        "error",
        Some("Broken"),
    ),
    (
        "force-app/main/default/externalClientApps/Half.eca-meta.xml",
        4,
        "RA000-unparsable-file",
        "error",
        Some("Half"),
    ),
];

fn owned(rows: &[Row]) -> Vec<Owned> {
    rows.iter()
        .map(|(f, l, r, s, a)| {
            (
                (*f).to_owned(),
                *l,
                (*r).to_owned(),
                (*s).to_owned(),
                a.map(str::to_owned),
            )
        })
        .collect()
}

fn parse(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"))
}

fn str_of(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

fn json_rows(report: &Value) -> Vec<Owned> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                str_of(&f["file"]).unwrap(),
                u32::try_from(f["line"].as_u64().unwrap()).unwrap(),
                str_of(&f["rule"]).unwrap(),
                str_of(&f["severity"]).unwrap(),
                str_of(&f["app"]),
            )
        })
        .collect()
}

fn sarif_rows(log: &Value) -> Vec<Owned> {
    let run = &log["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    run["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let index = usize::try_from(r["ruleIndex"].as_u64().unwrap()).unwrap();
            assert_eq!(
                rules[index]["id"], r["ruleId"],
                "ruleIndex points at its rule"
            );
            assert!(!r["message"]["text"].as_str().unwrap().is_empty());
            let locations = r["locations"].as_array().unwrap();
            assert_eq!(locations.len(), 1);
            let loc = &locations[0]["physicalLocation"];
            (
                str_of(&loc["artifactLocation"]["uri"]).unwrap(),
                u32::try_from(loc["region"]["startLine"].as_u64().unwrap()).unwrap(),
                str_of(&r["ruleId"]).unwrap(),
                str_of(&r["level"]).unwrap(),
                str_of(&r["properties"]["app"]),
            )
        })
        .collect()
}

/// Parses `FILE:LINE: SEVERITY RULE [APP]: what` lines (each followed by a `    fix:` line)
/// and returns them with the closing summary line.
fn text_rows(stdout: &str) -> (Vec<Owned>, String) {
    let lines: Vec<&str> = stdout.lines().collect();
    let (summary, body) = lines.split_last().unwrap();
    let mut rows = Vec::new();
    let mut fixes = 0;
    for line in body {
        if line.starts_with("    fix: ") {
            fixes += 1;
            continue;
        }
        if line.starts_with("no External Client App") {
            continue;
        }
        let (location, rest) = line.split_once(": ").unwrap();
        let (file, number) = location.rsplit_once(':').unwrap();
        let (head, what) = rest.split_once(": ").unwrap();
        assert!(!what.is_empty());
        let mut words = head.split_whitespace();
        let severity = words.next().unwrap().to_owned();
        let rule = words.next().unwrap().to_owned();
        let app = words
            .next()
            .map(|a| a.trim_start_matches('[').trim_end_matches(']').to_owned());
        rows.push((
            file.to_owned(),
            number.parse().unwrap(),
            rule,
            severity,
            app,
        ));
    }
    assert_eq!(
        fixes,
        rows.len(),
        "every finding has its fix line:\n{stdout}"
    );
    (rows, (*summary).to_owned())
}

fn sarif_validator() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sarif-schema-2.1.0.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::draft4::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

fn assert_valid_sarif(log: &Value) {
    let errors: Vec<String> = sarif_validator()
        .iter_errors(log)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "SARIF schema violations: {errors:#?}");
}

/// Runs all three formats over one fixture and checks each gives exactly `expected`.
fn check_fixture(name: &str, expected: &[Row], summary: &str, exit: i32) {
    let expected = owned(expected);

    let (code, out, err) = audit(name, &["--format", "json"], &[]);
    assert_eq!(code, exit, "{err}");
    let report = parse(&out);
    assert_eq!(json_rows(&report), expected, "json");

    let (code, out, err) = audit(name, &["--format", "sarif"], &[]);
    assert_eq!(code, exit, "{err}");
    let log = parse(&out);
    assert_eq!(sarif_rows(&log), expected, "sarif");
    assert_valid_sarif(&log);

    let (code, out, err) = audit(name, &[], &[]);
    assert_eq!(code, exit, "{err}");
    let (rows, last) = text_rows(&out);
    assert_eq!(rows, expected, "text");
    assert_eq!(last, summary);
}

#[test]
fn audit_of_the_violations_fixture_gives_exactly_every_expected_finding_in_all_formats() {
    check_fixture(
        "violations",
        &VIOLATIONS,
        "2 app(s) checked (1 External Client App(s), 1 Connected App(s)): 22 error(s), 11 warning(s), 3 note(s)",
        1,
    );
}

#[test]
fn audit_of_the_compliant_fixture_leaves_only_what_metadata_cannot_tell() {
    check_fixture(
        "compliant",
        &COMPLIANT,
        "1 app(s) checked (1 External Client App(s), 0 Connected App(s)): 0 error(s), 0 warning(s), 1 note(s)",
        0,
    );
}

#[test]
fn audit_of_malformed_xml_reports_each_file_and_line_without_crashing() {
    check_fixture(
        "malformed",
        &MALFORMED,
        "0 app(s) checked (0 External Client App(s), 0 Connected App(s)): 2 error(s), 0 warning(s), 0 note(s)",
        1,
    );
}

#[test]
fn audit_of_an_empty_folder_finds_nothing_and_says_so() {
    check_fixture(
        "empty",
        &[],
        "0 app(s) checked (0 External Client App(s), 0 Connected App(s)): 0 error(s), 0 warning(s), 0 note(s)",
        0,
    );
    let (code, out, _) = audit("empty", &[], &[]);
    assert_eq!(code, 0);
    let path = fixture("empty");
    assert_eq!(
        out.lines().next().unwrap(),
        format!(
            "no External Client App or Connected App metadata found under {}",
            path.display()
        )
    );
}

#[test]
fn audit_json_lists_the_apps_and_marks_what_metadata_cannot_tell() {
    let (_, out, _) = audit("violations", &["--format", "json"], &[]);
    let report = parse(&out);
    let apps: Vec<(String, String)> = report["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (str_of(&a["name"]).unwrap(), str_of(&a["kind"]).unwrap()))
        .collect();
    assert_eq!(
        apps,
        [
            ("Legacy_Sync".to_owned(), "connected_app".to_owned()),
            ("Reauth_Bad".to_owned(), "external_client_app".to_owned()),
        ]
    );
    assert_eq!(
        report["summary"],
        serde_json::json!({"errors": 22, "warnings": 11, "notes": 3})
    );
    assert_eq!(report["legacy_orgs"], Value::Null);
    let cannot_tell: Vec<(String, u64)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["cannot_tell"] == true)
        .map(|f| (str_of(&f["rule"]).unwrap(), f["line"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        cannot_tell,
        [
            ("RA005-refresh-token-ip-allowlist".to_owned(), 5),
            ("RA006-device-flow-off".to_owned(), 5),
            ("RA005-refresh-token-ip-allowlist".to_owned(), 2),
        ]
    );
    // The fixture's secrets never reach the output.
    assert!(!out.contains("FIXTURE0000SECRET") && !out.contains("FIXTURE1111SECRET"));
}

#[test]
fn audit_sarif_declares_every_rule_with_its_default_level_and_the_schema_rejects_a_broken_log() {
    let (_, out, _) = audit("violations", &["--format", "sarif"], &[]);
    let mut log = parse(&out);
    assert_eq!(log["version"], "2.1.0");
    let rules = log["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 22);
    assert_eq!(ids[0], "RA000-unparsable-file");
    assert_eq!(ids[21], "RA021-orphan-eca-file");
    for (i, id) in ids.iter().enumerate() {
        assert!(id.starts_with(&format!("RA{i:03}-")), "{id} at {i}");
    }
    let pkce = &rules[1];
    assert_eq!(pkce["defaultConfiguration"]["level"], "error");
    assert!(
        pkce["helpUri"]
            .as_str()
            .unwrap()
            .starts_with("https://developer.salesforce.com/")
    );
    // The validator is not a rubber stamp: a result without a message is refused.
    log["runs"][0]["results"][0]
        .as_object_mut()
        .unwrap()
        .remove("message");
    assert!(!sarif_validator().is_valid(&log));
}

#[test]
fn audit_exit_code_follows_fail_on() {
    for (name, fail_on, exit) in [
        ("compliant", "error", 0),
        ("compliant", "warning", 0),
        ("compliant", "note", 1),
        ("violations", "error", 1),
        ("empty", "note", 0),
        ("malformed", "error", 1),
    ] {
        let (code, _, err) = audit(name, &["--fail-on", fail_on, "--format", "json"], &[]);
        assert_eq!(code, exit, "{name} --fail-on {fail_on}: {err}");
    }
}

#[test]
fn audit_of_a_missing_path_or_a_file_exits_2_with_the_error_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file.xml");
    std::fs::write(&file, "<x/>").unwrap();
    let missing = dir.path().join("nope");
    for (path, reason) in [(&missing, "no such folder"), (&file, "not a folder")] {
        let (code, out, err) = run_reauth(
            dir.path(),
            &[
                "audit",
                "metadata",
                path.to_str().unwrap(),
                "--format",
                "json",
            ],
            &[],
        );
        assert_eq!(code, 2, "{err}");
        assert_eq!(out, "", "nothing on stdout");
        assert_eq!(
            err.trim_end(),
            format!("error: {}: {reason}", path.display())
        );
    }
}

#[test]
fn audit_help_explains_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, _) = run_reauth(dir.path(), &["audit", "metadata", "--help"], &[]);
    assert_eq!(code, 0);
    for option in ["--format <FORMAT>", "--fail-on <FAIL_ON>"] {
        assert!(
            out.lines().any(|l| l.trim_start().starts_with(option)),
            "{option} missing from:\n{out}"
        );
    }
    assert!(
        out.lines().any(|l| l.starts_with("Exit codes: 0 ")),
        "{out}"
    );
}

/// A connection row without tokens (the audit only counts them).
fn connection(
    org_id: &str,
    app: domain::entity::connection::ConnectionApp,
    status: domain::entity::connection::ConnectionStatus,
) -> domain::entity::connection::ActiveModel {
    use sea_orm::ActiveValue::{NotSet, Set};
    let now = chrono::Utc::now();
    domain::entity::connection::ActiveModel {
        id: NotSet,
        org_id: Set(domain::types::OrgId::parse(org_id).unwrap()),
        app: Set(app),
        status: Set(status),
        refresh_token_ct: Set(None),
        access_token_ct: Set(None),
        key_id: Set(None),
        instance_url: Set("https://example.my.salesforce.com".into()),
        id_url: Set("https://login.salesforce.com/id/00D/005".into()),
        sf_user_id: Set("005000000000001".into()),
        sf_username: Set(None),
        scopes: Set("api refresh_token".into()),
        issued_at: Set(now),
        access_token_at: Set(None),
        last_exchange_at: Set(now),
        next_heartbeat_at: Set(None),
        heartbeat_interval_secs: Set(None),
        version: Set(0),
        lease_owner: Set(None),
        lease_expires_at: Set(None),
        refresh_started_at: Set(None),
        last_error_class: Set(None),
        last_error: Set(None),
        last_error_at: Set(None),
        replaces_id: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        pending_refresh_token_ct: Set(None),
        pending_key_id: Set(None),
        pending_at: Set(None),
        anomaly: Set(None),
        verify_attempts: Set(0),
        next_verify_at: Set(None),
        verified_at: Set(None),
        revoke_attempts: Set(0),
        next_revoke_at: Set(None),
        rests_as: Set(None),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_counts_the_orgs_still_connected_through_the_legacy_app_when_a_database_is_configured()
 {
    use sea_orm::EntityTrait;
    let db = TestDb::sqlite().await;
    let url = db.url.clone();
    let csv = "org_id,name,admin_email\n00D000000000001,One,a@one.com\n00D000000000002,Two,b@two.com\n00D000000000003,Three,c@three.com\n";
    let imported = {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("orgs.csv"), csv).unwrap();
            run_reauth(
                dir.path(),
                &["orgs", "import", "orgs.csv"],
                &[("REAUTH_DATABASE_URL", &url)],
            )
        })
        .await
        .unwrap()
    };
    assert_eq!(imported.0, 0, "{}", imported.2);
    // One: two live legacy rows (counted once). Two: legacy needing re-auth (still on it).
    // Three: legacy revoked and superseded, now on the ECA (not counted).
    use domain::entity::connection::{ConnectionApp as A, ConnectionStatus as S};
    for (org, app, status) in [
        ("00D000000000001EAA", A::Legacy, S::Active),
        ("00D000000000001EAA", A::Legacy, S::Refreshing),
        ("00D000000000002EAA", A::Legacy, S::NeedsReauth),
        ("00D000000000003EAA", A::Legacy, S::Revoked),
        ("00D000000000003EAA", A::Legacy, S::Superseded),
        ("00D000000000003EAA", A::Eca, S::Active),
    ] {
        domain::entity::connection::Entity::insert(connection(org, app, status))
            .exec(&db.db)
            .await
            .unwrap();
    }
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        audit(
            "violations",
            &["--format", "json"],
            &[("REAUTH_DATABASE_URL", &url)],
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 1, "{err}");
    assert_eq!(err, "", "no warning when the count works");
    let report = parse(&out);
    assert_eq!(report["legacy_orgs"], 2);
    let legacy = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "RA018-legacy-connected-app")
        .unwrap();
    assert_eq!(
        legacy["found"],
        "the legacy Connected App Legacy_Sync is still here; the registry has 2 org(s) still connected through the legacy app"
    );
}

#[test]
fn audit_without_a_configured_database_skips_the_count_quietly_and_creates_no_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = fixture("violations");
    let (code, out, err) = run_reauth(
        dir.path(),
        &[
            "audit",
            "metadata",
            path.to_str().unwrap(),
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(code, 1);
    assert_eq!(err, "");
    assert_eq!(parse(&out)["legacy_orgs"], Value::Null);
    assert!(!dir.path().join("reauth.db").exists());
}

#[test]
fn audit_counts_from_the_default_database_when_its_file_is_in_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run_reauth(dir.path(), &["migrate"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(dir.path().join("reauth.db").exists());
    let path = fixture("violations");
    let (code, out, err) = run_reauth(
        dir.path(),
        &[
            "audit",
            "metadata",
            path.to_str().unwrap(),
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(code, 1);
    assert_eq!(err, "");
    assert_eq!(parse(&out)["legacy_orgs"], 0);
}
