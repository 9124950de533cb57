//! Running and operating: logs, `serve`, waves and notice previews, staff users.

use reauth_tests::run_reauth;

use super::ORGS;

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
