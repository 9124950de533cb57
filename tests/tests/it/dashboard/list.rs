//! The org list: search, filters, sort, paging and the CSV exports.

use domain::staff::Role;
use reauth_tests::staff;
use reauth_tests::{TestDb, both_backends};

use super::{id18, ids_in, seeded};

async fn list_search_filter_sort_page(db: TestDb) {
    let app = seeded(&db).await;
    let v = staff::first_sign_in(&app, "vi@partner.example", Role::Viewer).await;

    let (s, _, page) = v.get("/orgs").await;
    assert_eq!(s, 200);
    assert!(page.contains("1–30 of <strong>30</strong> orgs"), "{page}");
    // Viewers see no bulk actions and no checkboxes.
    assert!(!page.contains("id=\"bulk-action\""));

    // Search by name, by contact email, by 15- or 18-character org id.
    let (_, _, p) = v.get("/orgs?q=customer+07").await;
    assert_eq!(ids_in(&p), [id18("00D000000000007")]);
    let (_, _, p) = v.get("/orgs?q=admin12%40customer12").await;
    assert_eq!(ids_in(&p).len(), 1);
    let (_, _, p) = v.get("/orgs?q=00D000000000013").await;
    assert_eq!(ids_in(&p).len(), 1);

    // Filters combine.
    let (_, _, p) = v.get("/orgs?wave=w1&env=sandbox").await;
    assert!(p.contains("of <strong>10</strong> orgs"), "{p}");
    let (_, _, p) = v.get("/orgs?csm=kim%40partner.example").await;
    assert!(p.contains("of <strong>10</strong> orgs"));
    let (_, _, p) = v.get("/orgs?state=pending&wave=w2").await;
    assert!(p.contains("of <strong>10</strong> orgs"));

    // Sorting by name both ways.
    let (_, _, asc) = v.get("/orgs?sort=name").await;
    let (_, _, desc) = v.get("/orgs?sort=name&dir=desc").await;
    let (a, mut d) = (ids_in(&asc), ids_in(&desc));
    d.reverse();
    assert_eq!(a, d);
    assert_eq!(a[0], id18("00D000000000000"));

    // Pages of 12: 12, 12, 6, with working links.
    let (_, _, p1) = v.get("/orgs?per=12").await;
    assert!(p1.contains("1–12 of"));
    assert!(p1.contains("id=\"next-page\""));
    let (_, _, p3) = v.get("/orgs?per=12&page=3").await;
    assert!(p3.contains("25–30 of"));
    assert!(!p3.contains("id=\"next-page\""));
    assert_eq!(ids_in(&p3).len(), 6);

    // Bad input is explained, not ignored.
    let (s, _, p) = v.get("/orgs?state=bogus").await;
    assert_eq!(s, 400);
    assert!(p.contains("unknown state `bogus`"), "{p}");
    let (s, _, p) = v.get("/orgs?wave=nope").await;
    assert_eq!(s, 400);
    assert!(p.contains("no wave named `nope`"));
    let (s, _, _) = v.get("/orgs?sort=shoe-size").await;
    assert_eq!(s, 400);

    // Overdue: w1's deadline has passed.
    domain::campaign::set_schedule(
        &db.db,
        "w1",
        Some(chrono::Utc::now() - chrono::Duration::days(30)),
        Some(chrono::Utc::now() - chrono::Duration::days(1)),
        &domain::events::Actor::System,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let (_, _, p) = v.get("/orgs?overdue=1").await;
    assert!(p.contains("of <strong>20</strong> orgs"), "{p}");

    // The CSV export has every matching org.
    let r = v
        .client
        .get(format!("{}/orgs.csv?wave=w2", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let body = r.text().await.unwrap();
    let mut rows = csv::Reader::from_reader(body.as_bytes());
    let recs: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    assert_eq!(recs.len(), 10);
    assert_eq!(&recs[0][4], "w2");
    // It is in the import format: the import reads it back with no problem.
    let parsed = domain::registry::parse_csv(body.as_bytes(), "reauth-orgs.csv", &[], |_| {})
        .expect("the export's header is the import's");
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    assert_eq!(parsed.rows.len(), 10);
    // The wider report is a second, named export.
    let r = v
        .client
        .get(format!("{}/orgs-report.csv?wave=w2", app.base))
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("reauth-orgs-report.csv")
    );
    let body = r.text().await.unwrap();
    let mut rows = csv::Reader::from_reader(body.as_bytes());
    assert!(rows.headers().unwrap().iter().any(|h| h == "state"));
    assert_eq!(rows.records().count(), 10);
}
both_backends!(
    the_org_list_searches_filters_sorts_and_pages,
    list_search_filter_sort_page
);
