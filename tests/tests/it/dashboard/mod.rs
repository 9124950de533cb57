//! The dashboard's pages over HTTP: overview, org list (search, filters, sort, paging, CSV),
//! bulk jobs, the org page and its actions, waves and the audit log.

mod bulk;
mod list;
mod org_page;
mod overview;

use reauth_tests::{TestApp, TestDb};

use crate::dashboard_auth::config;

/// 30 orgs: 20 in wave w1 (10 production, 10 sandbox), 10 in w2; CSMs alternate.
pub(crate) fn csv() -> String {
    let mut s = String::from("org_id,name,environment,admin_email,wave,csm_email\n");
    for i in 0..30 {
        let id = format!("00D000000000{i:03}");
        let env = if i % 2 == 0 { "production" } else { "sandbox" };
        let wave = if i < 20 { "w1" } else { "w2" };
        let csm = if i % 3 == 0 {
            "kim@partner.example"
        } else {
            "lee@partner.example"
        };
        s.push_str(&format!(
            "{id},Customer {i:02},{env},admin{i}@customer{i}.example,{wave},{csm}\n"
        ));
    }
    s
}

pub(crate) async fn seeded(db: &TestDb) -> TestApp {
    reauth_tests::import_csv(&db.db, &csv()).await;
    TestApp::spawn(db, config()).await
}

/// The 18-character form of a 15-character org id.
pub(crate) fn id18(id15: &str) -> String {
    domain::types::OrgId::parse(id15)
        .unwrap()
        .as_str()
        .to_owned()
}

pub(crate) fn ids_in(html: &str) -> Vec<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse("#org-table tbody code").unwrap();
    doc.select(&sel).map(|e| e.text().collect()).collect()
}
