//! Data commands against a missing or empty database.

use reauth_tests::run_reauth;

use super::ORGS;

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
