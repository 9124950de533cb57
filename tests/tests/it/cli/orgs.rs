//! `reauth orgs`: import (all-or-nothing, dry run, bad rows), list and export.

use reauth_tests::{TestDb, run_reauth};

use super::{MIXED, ORGS, org_ids};

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
