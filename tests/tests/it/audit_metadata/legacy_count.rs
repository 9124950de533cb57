//! The count of orgs still on the legacy app, from the configured or the default database.

use super::*;

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
