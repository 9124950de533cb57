//! Each fixture project's exact findings in text, JSON and SARIF; exit codes; help.

use super::*;

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
