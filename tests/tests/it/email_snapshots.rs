//! Every email, in plain text and HTML, against reviewed snapshots in `tests/snapshots/`.
//! `REAUTH_UPDATE_SNAPSHOTS=1` rewrites them (review the diff before committing).

use domain::config::Config;
use domain::events::Actor;
use domain::types::OrgId;
use reauth_tests::TestDb;

fn normalise(s: &str, expires: &str) -> String {
    s.replace(expires, "<EXPIRES>")
}

#[tokio::test]
async fn every_email_matches_its_snapshot() {
    let db = TestDb::sqlite().await;
    let csv = "org_id,name,admin_email,admin_name,wave\n00D4c0000008cs2,Acme Corp,admin@acme.example,Jane Admin,Q1\n";
    reauth_tests::import_csv(&db.db, csv).await;
    let deadline = chrono::DateTime::parse_from_rfc3339("2027-01-31T17:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    domain::campaign::set_schedule(
        &db.db,
        "Q1",
        None,
        Some(deadline),
        &Actor::System,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let mut config = Config::default();
    config.partner.name = "Example Integrations".into();
    config.partner.egress_ranges = vec!["203.0.113.0/28".parse().unwrap()];
    config.partner.upcoming_egress_ranges = vec![domain::config::UpcomingRange {
        cidr: "198.51.100.0/29".parse().unwrap(),
        from: chrono::NaiveDate::from_ymd_opt(2099, 1, 15).unwrap(),
    }];
    config.legacy.package_min_version = Some("2.0".into());
    config.legacy.install_url = Some("https://install.example/04t000000000001".into());
    let org = OrgId::parse("00D4c0000008cs2").unwrap();
    let expires = (chrono::Utc::now() + chrono::Duration::from_std(config.links.ttl).unwrap())
        .format("%B %-d, %Y")
        .to_string();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("snapshots");
    let update = std::env::var("REAUTH_UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1");
    let mut mismatches = Vec::new();
    for k in domain::campaign::notices::NoticeKind::ALL {
        let kind = k.as_str();
        let r = domain::campaign::notices::preview(&db.db, &config, &org, k)
            .await
            .unwrap();
        // Escalations (to the CSM), confirmations, install requests and IP changes carry no link.
        let has_link = k.carries_link();
        assert_eq!(
            has_link,
            !matches!(
                kind,
                "escalate" | "confirmation" | "install_package" | "ip_change"
            ),
            "{kind}"
        );
        assert!(
            !has_link
                || r.text.contains("/r/PREVIEW-LINK-NOT-VALID")
                    && r.html
                        .contains("href=\"http://127.0.0.1:8080/r/PREVIEW-LINK-NOT-VALID\""),
            "{kind}: the link is in both parts"
        );
        for (ext, body) in [
            ("txt", format!("Subject: {}\n\n{}", r.subject, r.text)),
            ("html", r.html.clone()),
        ] {
            let path = dir.join(format!("email_{kind}.{ext}"));
            let got = normalise(&body, &expires);
            if update {
                std::fs::write(&path, &got).unwrap();
            } else if std::fs::read_to_string(&path).ok().as_deref() != Some(got.as_str()) {
                mismatches.push(format!("{} differs; got:\n{got}", path.display()));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n\n"));
}
