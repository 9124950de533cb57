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

mod fixtures;
mod legacy_count;
