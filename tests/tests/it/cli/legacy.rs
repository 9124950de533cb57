//! `reauth legacy import` and the legacy token commands.

use reauth_tests::run_reauth;

use super::ORGS;

/// `legacy import|report` and scoped API keys as an operator runs them: the token never reaches
/// a log line (even at debug level), the database file or an error.
#[test]
fn legacy_import_from_the_command_line_seals_and_never_logs_the_token() {
    use secrecy::ExposeSecret as _;
    let dir = tempfile::tempdir().unwrap();
    let key = domain::security::crypto::Sealer::generate_key("k1");
    std::fs::write(
        dir.path().join("reauth.toml"),
        format!(
            "database_url = \"sqlite://reauth.db?mode=rwc\"\n[salesforce]\nclient_id = \"eca\"\n[legacy]\nclient_id = \"legacy\"\n[crypto]\nkeys = [\"{}\"]\n",
            key.expose_secret()
        ),
    )
    .unwrap();
    std::fs::write(dir.path().join("orgs.csv"), ORGS).unwrap();
    let token = "5Aep861TOKEN-THAT-MUST-NOT-LEAK.0123456789";
    std::fs::write(
        dir.path().join("tokens.jsonl"),
        format!(
            "{{\"org_id\":\"00D4c0000008cs2\",\"refresh_token\":\"{token}\",\"instance_url\":\"https://acme.my.salesforce.com\",\"sf_user_id\":\"005000000000001\"}}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("bad.csv"),
        format!("org_id,refresh_token,instance_url,sf_user_id\n00D000000000009,{token},https://x.my.salesforce.com,005000000000001\n"),
    )
    .unwrap();
    let debug = [("RUST_LOG", "debug")];
    assert_eq!(run_reauth(dir.path(), &["migrate"], &[]).0, 0);
    assert_eq!(
        run_reauth(dir.path(), &["orgs", "import", "orgs.csv"], &[]).0,
        0
    );

    let (code, out, err) = run_reauth(dir.path(), &["legacy", "import", "bad.csv"], &debug);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.lines()
            .any(|l| l.starts_with("bad.csv:2: org_id: org 00D000000000009")),
        "{err}"
    );
    assert!(!out.contains(token) && !err.contains(token));

    let (code, out, err) = run_reauth(dir.path(), &["legacy", "import", "tokens.jsonl"], &debug);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("imported 1 legacy connection"), "{err}");
    assert!(!out.contains(token) && !err.contains(token));
    let mut stored = Vec::new();
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let p = e.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("reauth.db")
        {
            stored.extend(std::fs::read(p).unwrap());
        }
    }
    assert!(!stored.is_empty());
    assert!(!stored.windows(token.len()).any(|w| w == token.as_bytes()));

    let (code, out, _) = run_reauth(dir.path(), &["legacy", "report", "--format", "json"], &[]);
    assert_eq!(code, 1, "not ready while an org is held");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["ready"], false);
    assert_eq!(report["still_on_legacy"][0]["bucket"], "held");

    let (code, _, err) = run_reauth(
        dir.path(),
        &[
            "api-keys",
            "create",
            "--name",
            "importer",
            "--scope",
            "legacy:write",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = run_reauth(dir.path(), &["api-keys", "list", "--format", "json"], &[]);
    let keys: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(keys[0]["scopes"], "legacy:write");
    let (code, _, err) = run_reauth(
        dir.path(),
        &[
            "api-keys",
            "create",
            "--name",
            "x",
            "--scope",
            "tokens:write",
        ],
        &[],
    );
    assert_ne!(code, 0);
    assert!(err.contains("unknown scope `tokens:write`"), "{err}");
}

/// A directory with a migrated database, the orgs of [`ORGS`] and a legacy app configured.
fn legacy_dir() -> tempfile::TempDir {
    use secrecy::ExposeSecret as _;
    let dir = tempfile::tempdir().unwrap();
    let key = domain::security::crypto::Sealer::generate_key("k1");
    std::fs::write(
        dir.path().join("reauth.toml"),
        format!(
            "database_url = \"sqlite://reauth.db?mode=rwc\"\n[salesforce]\nclient_id = \"eca\"\n[legacy]\nclient_id = \"legacy\"\n[crypto]\nkeys = [\"{}\"]\n",
            key.expose_secret()
        ),
    )
    .unwrap();
    std::fs::write(dir.path().join("orgs.csv"), ORGS).unwrap();
    assert_eq!(run_reauth(dir.path(), &["migrate"], &[]).0, 0);
    assert_eq!(
        run_reauth(dir.path(), &["orgs", "import", "orgs.csv"], &[]).0,
        0
    );
    dir
}

const HEADER: &str = "org_id,refresh_token,instance_url,sf_user_id\n";
const UNKNOWN_ORG_ROW: &str =
    "00D000000000009,5Aep861A,https://x.my.salesforce.com,005000000000001\n";

#[test]
fn a_legacy_import_with_no_valid_row_does_not_offer_skip_invalid() {
    let dir = legacy_dir();
    std::fs::write(
        dir.path().join("bad.csv"),
        format!("{HEADER}{UNKNOWN_ORG_ROW}"),
    )
    .unwrap();
    let (code, _, err) = run_reauth(dir.path(), &["legacy", "import", "bad.csv"], &[]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        err.lines().last(),
        Some("nothing imported: 1 problem and no valid row (fix it)"),
        "{err}"
    );
}

#[test]
fn a_legacy_import_with_valid_and_invalid_rows_offers_skip_invalid_for_the_valid_ones() {
    let dir = legacy_dir();
    std::fs::write(
        dir.path().join("mixed.csv"),
        format!(
            "{HEADER}00D4c0000008cs2,5Aep861B,https://acme.my.salesforce.com,005000000000001\n{UNKNOWN_ORG_ROW}"
        ),
    )
    .unwrap();
    let (code, _, err) = run_reauth(dir.path(), &["legacy", "import", "mixed.csv"], &[]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        err.lines().last(),
        Some(
            "nothing imported: 1 problem (fix it, or pass --skip-invalid to import the other 1 row)"
        ),
        "{err}"
    );
}
