//! The `reauth` binary as an operator uses it: in an empty directory, with files and variables.

use reauth_tests::{TestDb, run_reauth};

const ORGS: &str = "org_id,name,environment,admin_email\n\
00D4c0000008cs2,Acme,production,admin@acme.com\n\
00D5e000000AbCd,Globex,sandbox,it@globex.com\n";

const MIXED: &str = "org_id,name,admin_email,environment,login_url\n\
00D000000000001,Good One,a@one.com,,\n\
00Dxx,Bad Id,b@two.com,production,\n\
00D000000000003,Bad Env,c@three.com,staging,\n\
00D000000000004,Bad Url,d@four.com,,http://acme.my.salesforce.com\n\
00D000000000005,Good Two,e@five.com,sandbox,https://acme--uat.sandbox.my.salesforce.com\n\
00D000000000006,Bad Mail,not-an-email,,\n";

fn org_ids(stdout: &str) -> Vec<String> {
    let v: serde_json::Value =
        serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"));
    v.as_array()
        .unwrap()
        .iter()
        .map(|o| o["org_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn help_lists_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, _) = run_reauth(dir.path(), &["--help"], &[]);
    assert_eq!(code, 0);
    for cmd in ["serve", "worker", "migrate", "config", "orgs", "events"] {
        assert!(
            out.lines().any(|l| l.trim_start().starts_with(cmd)),
            "{cmd} missing from:\n{out}"
        );
    }
}

fn migrate_import_list(env: &[(&str, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("orgs.csv"), ORGS).unwrap();
    let (code, _, err) = run_reauth(dir.path(), &["migrate"], env);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run_reauth(dir.path(), &["orgs", "import", "orgs.csv"], env);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("created 2"), "{out}");
    let (code, out, err) = run_reauth(dir.path(), &["orgs", "list", "--format", "json"], env);
    assert_eq!(code, 0, "{err}");
    assert_eq!(org_ids(&out), ["00D4c0000008cs2EAA", "00D5e000000AbCdEAK"]);
    let (_, out, _) = run_reauth(
        dir.path(),
        &["orgs", "show", "00D5e000000AbCd", "--format", "json"],
        env,
    );
    let shown: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["org_id"], "00D5e000000AbCdEAK");
    assert_eq!(shown["state"], "pending");
}

#[test]
fn migrate_import_and_list_work_in_an_empty_directory_on_sqlite() {
    migrate_import_list(&[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_import_and_list_work_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let url = db.url.clone();
    tokio::task::spawn_blocking(move || migrate_import_list(&[("REAUTH_DATABASE_URL", &url)]))
        .await
        .unwrap();
}

#[test]
fn bad_rows_are_all_reported_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mixed.csv"), MIXED).unwrap();
    let (code, _, err) = run_reauth(dir.path(), &["orgs", "import", "mixed.csv"], &[]);
    assert_ne!(code, 0);
    for expected in [
        "mixed.csv:3: org_id:",
        "mixed.csv:4: environment:",
        "mixed.csv:5: login_url:",
        "mixed.csv:7: admin_email:",
    ] {
        assert!(
            err.lines().any(|l| l.starts_with(expected)),
            "{expected} missing from:\n{err}"
        );
    }
    assert!(err.contains("nothing was written"), "{err}");
    assert!(
        err.lines().any(|l| l
            == "error: 4 invalid rows in mixed.csv; nothing was written (use --skip-invalid to import the other 2 rows)"),
        "{err}"
    );
    assert!(
        !dir.path().join("reauth.db").exists(),
        "a refused import does not even create the database"
    );

    let (code, out, err) = run_reauth(
        dir.path(),
        &["orgs", "import", "mixed.csv", "--skip-invalid"],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("skipped 4 invalid rows"), "{out}");
    let (_, out, _) = run_reauth(dir.path(), &["orgs", "list", "--format", "json"], &[]);
    assert_eq!(org_ids(&out), ["00D000000000001EAA", "00D000000000005EAA"]);

    let (code, _, _) = run_reauth(
        dir.path(),
        &["orgs", "import", "mixed.csv", "--skip-invalid"],
        &[],
    );
    assert_eq!(code, 0);
    let (_, out, _) = run_reauth(dir.path(), &["orgs", "list", "--format", "json"], &[]);
    assert_eq!(
        org_ids(&out).len(),
        2,
        "importing twice leaves the same number of orgs"
    );
}

#[test]
fn dry_run_says_what_would_change_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("orgs.csv"), ORGS).unwrap();
    let (code, out, err) = run_reauth(
        dir.path(),
        &["orgs", "import", "orgs.csv", "--dry-run"],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("would create 00D4c0000008cs2EAA Acme"),
        "{out}"
    );
    assert!(out.contains("nothing was written"), "{out}");
    assert!(
        !dir.path().join("reauth.db").exists(),
        "a dry run does not create the database"
    );
    run_reauth(dir.path(), &["migrate"], &[]);
    let (_, out, _) = run_reauth(dir.path(), &["orgs", "list", "--format", "json"], &[]);
    assert!(org_ids(&out).is_empty());
}

#[test]
fn export_round_trips_through_import() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("orgs.csv"), ORGS).unwrap();
    run_reauth(dir.path(), &["orgs", "import", "orgs.csv"], &[]);
    let (code, out, err) = run_reauth(dir.path(), &["orgs", "export", "-o", "out.csv"], &[]);
    assert_eq!(code, 0, "{err}{out}");
    let (code, out, err) = run_reauth(dir.path(), &["orgs", "import", "out.csv"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("created 0, updated 0, unchanged 2"), "{out}");
}

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

#[test]
fn data_commands_refuse_a_missing_database_and_create_none() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["links", "create", "00D5g000007GlBx"][..],
        &["orgs", "list"],
        &["events", "list"],
    ] {
        let (code, out, err) = run_reauth(dir.path(), args, &[]);
        assert_eq!(code, 1, "{args:?}");
        assert_eq!(out, "");
        assert!(
            err.starts_with("error: the database reauth.db does not exist (database_url = \"sqlite://reauth.db?mode=rwc\"); nothing was created."),
            "{err}"
        );
        assert!(err.contains("REAUTH_DATABASE_URL"), "{err}");
    }
    assert!(!dir.path().join("reauth.db").exists());
}

#[test]
fn an_unknown_org_in_an_empty_database_says_the_database_has_no_orgs() {
    let dir = tempfile::tempdir().unwrap();
    run_reauth(dir.path(), &["migrate"], &[]);
    let (code, _, err) = run_reauth(dir.path(), &["links", "create", "00D5g000007GlBx"], &[]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("error: no org 00D5g000007GlBxEAK: the database sqlite://reauth.db?mode=rwc has no orgs at all."),
        "{err}"
    );
    std::fs::write(dir.path().join("orgs.csv"), ORGS).unwrap();
    run_reauth(dir.path(), &["orgs", "import", "orgs.csv"], &[]);
    let (code, _, err) = run_reauth(dir.path(), &["orgs", "show", "00D5g000007GlBx"], &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("among the 2 orgs in sqlite://reauth.db"),
        "{err}"
    );
}

#[test]
fn the_missing_database_error_gives_the_demo_database_line_and_the_line_works() {
    let dir = tempfile::tempdir().unwrap();
    // A demo database in the directory, as `reauth demo` leaves it.
    let demo = [("REAUTH_DATABASE_URL", "sqlite://reauth-demo.db?mode=rwc")];
    std::fs::write(dir.path().join("orgs.csv"), ORGS).unwrap();
    let (code, _, err) = run_reauth(dir.path(), &["orgs", "import", "orgs.csv"], &demo);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run_reauth(dir.path(), &["links", "create", "00D4c0000008cs2"], &[]);
    assert_eq!(code, 1);
    let line = err
        .lines()
        .find_map(|l| l.split_once("to use it: export ").map(|(_, v)| v))
        .unwrap_or_else(|| panic!("no export line in:\n{err}"));
    let (name, value) = line.split_once('=').unwrap();
    let value = value.trim_matches('\'');
    let (code, out, err) = run_reauth(
        dir.path(),
        &["links", "create", "00D4c0000008cs2"],
        &[(name, value)],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.trim().starts_with("http://127.0.0.1:8080/r/"), "{out}");
    assert!(!dir.path().join("reauth.db").exists());
}

#[test]
fn environment_abbreviations_are_refused_with_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("prod.csv"),
        "org_id,name,environment,admin_email\n00D4c0000008cs2,Acme,prod,admin@acme.com\n",
    )
    .unwrap();
    let (code, _, err) = run_reauth(dir.path(), &["orgs", "import", "prod.csv"], &[]);
    assert_eq!(code, 1);
    assert_eq!(
        err.lines().collect::<Vec<_>>(),
        [
            "prod.csv:2: environment: unknown environment `prod` (expected production or sandbox; did you mean production?)",
            "error: 1 invalid row in prod.csv and no valid one; nothing was written",
        ]
    );
    run_reauth(dir.path(), &["migrate"], &[]);
    let (code, _, err) = run_reauth(dir.path(), &["orgs", "list", "--environment", "prod"], &[]);
    assert_eq!(code, 2, "a usage error");
    assert!(err.contains("did you mean production?"), "{err}");
    let (code, _, err) = run_reauth(
        dir.path(),
        &[
            "orgs",
            "list",
            "--environment",
            "SANDBOX",
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
}

#[test]
fn logs_written_to_a_pipe_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run_reauth(dir.path(), &["migrate"], &[("RUST_LOG", "info")]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("Applying migration"),
        "the log lines are there: {err}"
    );
    assert!(!err.contains('\u{1b}'), "no escape codes: {err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_health_and_readiness() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bind = format!("127.0.0.1:{port}");
    let mut child = std::process::Command::new(reauth_tests::reauth_bin())
        .current_dir(dir.path())
        .args(["serve"])
        .env_clear()
        .env("REAUTH_BIND", &bind)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let client = reauth_tests::http_client();
    let mut ready = None;
    for _ in 0..100 {
        if let Ok(r) = client.get(format!("http://{bind}/readyz")).send().await {
            ready = Some(r.status());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let health = client
        .get(format!("http://{bind}/healthz"))
        .send()
        .await
        .map(|r| r.status());
    child.kill().ok();
    child.wait().ok();
    assert_eq!(ready.map(|s| s.as_u16()), Some(200));
    assert_eq!(health.unwrap().as_u16(), 200);
}

#[test]
fn waves_and_notice_previews_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("orgs.csv"), ORGS).unwrap();
    run_reauth(dir.path(), &["orgs", "import", "orgs.csv"], &[]);
    let (code, _, err) = run_reauth(
        dir.path(),
        &[
            "waves",
            "create",
            "Q1",
            "--deadline",
            "2027-01-31T17:00:00Z",
            "--steps",
            "announce@start,nag@-1d",
        ],
        &[],
    );
    assert_ne!(code, 0);
    assert!(err.contains("step 2 (`nag@-1d`)"), "{err}");
    let (code, _, err) = run_reauth(
        dir.path(),
        &["waves", "create", "Q1", "--deadline", "next friday"],
        &[],
    );
    assert_ne!(code, 0);
    assert!(err.contains("RFC 3339"), "{err}");
    let (code, out, err) = run_reauth(
        dir.path(),
        &[
            "waves",
            "create",
            "Q1",
            "--deadline",
            "2027-01-31T17:00:00Z",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("wave `Q1` created"), "{out}");
    let (code, out, err) = run_reauth(
        dir.path(),
        &[
            "orgs",
            "move",
            "00D4c0000008cs2",
            "00D5e000000AbCd",
            "--wave",
            "Q1",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("moved 2 orgs"), "{out}");
    let (_, out, _) = run_reauth(dir.path(), &["waves", "list", "--format", "json"], &[]);
    let waves: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (waves[0]["name"].as_str(), waves[0]["orgs"].as_u64()),
        (Some("Q1"), Some(2))
    );
    let (code, out, err) = run_reauth(
        dir.path(),
        &["notices", "preview", "00D4c0000008cs2", "announce"],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("Subject: Action needed by January 31, 2027"),
        "{out}"
    );
    assert!(
        out.contains("Acme") && out.contains("PREVIEW-LINK-NOT-VALID"),
        "{out}"
    );
    let (code, _, err) = run_reauth(
        dir.path(),
        &["notices", "preview", "00D4c0000008cs2", "shout"],
        &[],
    );
    assert_ne!(code, 0);
    assert!(err.contains("unknown notice kind `shout`"), "{err}");
    let (code, out, _) = run_reauth(dir.path(), &["notices", "list", "--format", "json"], &[]);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap(),
        serde_json::json!([]),
        "previews send nothing"
    );
}

#[test]
fn staff_users_are_added_listed_reset_and_disabled_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = run_reauth(
        dir.path(),
        &["staff", "add", "lee@partner.example", "--role", "admin"],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let first = out.trim().to_owned();
    assert_eq!(
        first.len(),
        20,
        "a one-time password alone on stdout: {out}"
    );

    let (code, out, _) = run_reauth(dir.path(), &["staff", "list", "--format", "csv"], &[]);
    assert_eq!(code, 0);
    assert!(
        out.contains("lee@partner.example,admin,false,0,false,false,"),
        "{out}"
    );
    assert!(!out.contains(&first), "no password in the list");

    // Reset needs to be told what to reset.
    let (code, _, err) = run_reauth(dir.path(), &["staff", "reset", "lee@partner.example"], &[]);
    assert_ne!(code, 0);
    assert!(err.contains("--password, --two-factor, or both"), "{err}");
    let (code, out, err) = run_reauth(
        dir.path(),
        &[
            "staff",
            "reset",
            "lee@partner.example",
            "--password",
            "--two-factor",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let second = out.trim().to_owned();
    assert_eq!(second.len(), 20);
    assert_ne!(second, first);

    let (code, _, err) = run_reauth(
        dir.path(),
        &["staff", "reset", "nobody@partner.example", "--password"],
        &[],
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("no staff user nobody@partner.example"),
        "{err}"
    );

    let (code, _, _) = run_reauth(
        dir.path(),
        &["staff", "disable", "lee@partner.example"],
        &[],
    );
    assert_eq!(code, 0);
    let (_, out, _) = run_reauth(dir.path(), &["staff", "list", "--format", "json"], &[]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["disabled"], true);
    let (code, _, _) = run_reauth(
        dir.path(),
        &["staff", "role", "lee@partner.example", "--role", "viewer"],
        &[],
    );
    assert_eq!(code, 0);
    let (_, out, _) = run_reauth(dir.path(), &["events", "list", "--format", "csv"], &[]);
    for kind in [
        "staff.added",
        "staff.password_reset",
        "staff.two_factor_reset",
        "staff.disabled",
        "staff.role_changed",
    ] {
        assert!(out.contains(kind), "{kind} missing from:\n{out}");
    }
}

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
