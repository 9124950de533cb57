//! `reauth config check` and how a configuration file and `REAUTH_…` variables are read.

use reauth_tests::run_reauth;

#[test]
fn config_check_reports_every_unknown_key_at_once_with_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("reauth.toml"),
        "bind_addr = \"127.0.0.1:1\"\n[salesforce]\nclent_id = \"x\"\nlogin_ur = \"y\"\n[partner]\nclient_id = \"z\"\n[mail]\ntransport = \"log\"\n",
    )
    .unwrap();
    let (code, out, err) = run_reauth(dir.path(), &["config", "check"], &[]);
    assert_eq!(code, 1);
    assert_eq!(
        out, "",
        "nothing on stdout when the configuration is refused"
    );
    assert_eq!(
        err.lines().collect::<Vec<_>>(),
        [
            "reauth.toml: bind_addr: unknown key (did you mean bind?)",
            "reauth.toml: [partner] client_id: unknown key (did you mean [salesforce] client_id?)",
            "reauth.toml: [salesforce] clent_id: unknown key (did you mean client_id?)",
            "reauth.toml: [salesforce] login_ur: unknown key (did you mean login_url?)",
            "error: the configuration is not valid (4 problems)",
        ]
    );
    // Any other command refuses the same file, naming the same keys.
    let (code, _, err) = run_reauth(dir.path(), &["migrate"], &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("reauth.toml: [salesforce] clent_id: unknown key"),
        "{err}"
    );
}

#[test]
fn dev_null_is_an_empty_configuration_not_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = run_reauth(
        dir.path(),
        &["--config", "/dev/null", "config", "check"],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let effective: toml::Table = out.parse().unwrap();
    assert_eq!(
        effective["database_url"].as_str(),
        Some("sqlite://reauth.db?mode=rwc")
    );
    assert_eq!(
        effective["links"]["ttl"].as_str(),
        Some("14d"),
        "durations print as the configuration takes them"
    );
}

#[test]
fn config_check_applies_environment_overrides_and_redacts_secrets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret.txt"), "s3cr3t-value\n").unwrap();
    std::fs::write(
        dir.path().join("reauth.toml"),
        "[salesforce]\nclient_id = \"from-file\"\nclient_secret_file = \"secret.txt\"\n[crypto]\nkeys = [\"k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"]\n",
    )
    .unwrap();
    let env = [
        ("REAUTH_SALESFORCE__CLIENT_ID", "from-env"),
        ("REAUTH_HEARTBEAT__CONCURRENCY", "4"),
        (
            "REAUTH_DATABASE_URL",
            "postgres://u:hunter2@db.internal/reauth",
        ),
        ("REAUTH_BOGUS", "1"),
        ("REAUTH_TEST_POSTGRES_URL", "ignored"),
    ];
    let (code, out, err) = run_reauth(dir.path(), &["config", "check"], &env);
    assert_eq!(code, 0, "{err}");
    let effective: toml::Table = out.parse().unwrap();
    assert_eq!(
        effective["salesforce"]["client_id"].as_str(),
        Some("from-env")
    );
    assert_eq!(effective["heartbeat"]["concurrency"].as_integer(), Some(4));
    for secret in ["s3cr3t-value", "hunter2", "AAAAAAAAAAAAAAAA"] {
        assert!(
            !out.contains(secret) && !err.contains(secret),
            "{secret} leaked:\n{out}\n{err}"
        );
    }
    assert!(
        err.contains("REAUTH_BOGUS"),
        "unknown variable should be warned about: {err}"
    );
    assert!(
        !err.contains("REAUTH_TEST_POSTGRES_URL"),
        "test variables are not configuration: {err}"
    );
}

#[test]
fn invalid_values_are_reported_with_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("reauth.toml"), "[heartbeat]\ninterval = \"31d\"\n[salesforce]\nlogin_url = \"http://login.salesforce.com\"\n").unwrap();
    let (code, _, err) = run_reauth(
        dir.path(),
        &["config", "check"],
        &[("REAUTH_HEARTBEAT__CONCURRENCY", "lots")],
    );
    assert_ne!(code, 0);
    assert!(err.contains("heartbeat.concurrency"), "{err}");
    let (code, _, err) = run_reauth(dir.path(), &["config", "check"], &[]);
    assert_ne!(code, 0);
    assert!(err.contains("heartbeat.interval"), "{err}");
    assert!(err.contains("salesforce.login_url"), "{err}");
}

#[test]
fn a_missing_config_file_is_an_error_said_once() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["--config", "nope.toml", "migrate"][..],
        &["--config", "nope.toml", "config", "check"],
    ] {
        let (code, _, err) = run_reauth(dir.path(), args, &[]);
        assert_eq!(code, 1);
        assert_eq!(err, "error: config file nope.toml does not exist\n");
    }
}
