//! The dashboard's pages over HTTP: overview, org list (search, filters, sort, paging, CSV),
//! bulk jobs, the org page and its actions, waves and the audit log.

use domain::staff::Role;
use reauth_tests::staff::{self, text_of};
use reauth_tests::{TestApp, TestDb, both_backends};
use sea_orm::ConnectionTrait;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use crate::dashboard_auth::config;

/// 30 orgs: 20 in wave w1 (10 production, 10 sandbox), 10 in w2; CSMs alternate.
fn csv() -> String {
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

async fn seeded(db: &TestDb) -> TestApp {
    reauth_tests::import_csv(&db.db, &csv()).await;
    TestApp::spawn(db, config()).await
}

/// The 18-character form of a 15-character org id.
fn id18(id15: &str) -> String {
    domain::types::OrgId::parse(id15)
        .unwrap()
        .as_str()
        .to_owned()
}

fn ids_in(html: &str) -> Vec<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse("#org-table tbody code").unwrap();
    doc.select(&sel).map(|e| e.text().collect()).collect()
}

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

async fn wait_for_job(db: &TestDb, id: i64) -> domain::entity::bulk_job::Model {
    for _ in 0..200 {
        let j = domain::staff::bulk::get(&db.db, id).await.unwrap().unwrap();
        if matches!(j.status.as_str(), "done" | "failed") {
            return j;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("job {id} did not finish");
}

async fn bulk_actions(db: TestDb) {
    let app = seeded(&db).await;
    domain::campaign::create_wave(
        &db.db,
        "late",
        None,
        chrono::Utc::now() + chrono::Duration::days(60),
        None,
        &domain::events::Actor::System,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let op = staff::first_sign_in(&app, "op@partner.example", Role::Operator).await;

    // Review, then confirm: move the whole filter (w1 sandboxes) to `late`.
    let (s, _, review) = op
        .post(
            "/orgs/bulk",
            &[
                ("action", "move_wave"),
                ("argument", "late"),
                ("scope", "filter"),
                ("wave", "w1"),
                ("env", "sandbox"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{review}");
    assert_eq!(
        text_of(&review, "#confirm-title").unwrap(),
        "Move to wave late for 10 orgs?"
    );
    // Nothing happens before confirmation.
    assert_eq!(
        domain::staff::bulk::recent(&db.db, 10).await.unwrap().len(),
        0
    );
    let (s, loc, _) = op
        .post(
            "/orgs/bulk/run",
            &[
                ("action", "move_wave"),
                ("argument", "late"),
                ("scope", "filter"),
                ("wave", "w1"),
                ("env", "sandbox"),
            ],
        )
        .await;
    assert_eq!(s, 303);
    let id: i64 = loc.unwrap().trim_start_matches("/jobs/").parse().unwrap();
    let job = wait_for_job(&db, id).await;
    assert_eq!(
        (job.status.as_str(), job.total, job.done, job.failed),
        ("done", 10, 10, 0)
    );
    let (_, _, page) = op.get(&format!("/jobs/{id}")).await;
    assert_eq!(text_of(&page, "#job-done").unwrap(), "10");
    let (_, _, p) = op.get("/orgs?wave=late").await;
    assert!(p.contains("of <strong>10</strong> orgs"));
    // Audited per org, under the operator's name.
    let moved = domain::entity::event::Entity::find()
        .filter(domain::entity::event::Column::Kind.eq("org.moved"))
        .filter(domain::entity::event::Column::Actor.eq("op@partner.example"))
        .count(&db.db)
        .await
        .unwrap();
    assert_eq!(moved, 10);

    // Ticked orgs: assign a CSM to two, then pause their notices.
    let (one, other) = (id18("00D000000000001"), id18("00D000000000002"));
    let two = [("ids", one.as_str()), ("ids", other.as_str())];
    let mut f = vec![
        ("action", "assign_csm"),
        ("argument", "new@partner.example"),
        ("scope", "selected"),
    ];
    f.extend_from_slice(&two);
    let (_, loc, _) = op.post("/orgs/bulk/run", &f).await;
    let job = wait_for_job(
        &db,
        loc.unwrap().trim_start_matches("/jobs/").parse().unwrap(),
    )
    .await;
    assert_eq!((job.done, job.skipped), (2, 0));
    let (_, _, p) = op.get("/orgs?csm=new%40partner.example").await;
    assert_eq!(ids_in(&p).len(), 2);
    // Running it again changes nothing: each org is skipped.
    let (_, loc, _) = op.post("/orgs/bulk/run", &f).await;
    let job = wait_for_job(
        &db,
        loc.unwrap().trim_start_matches("/jobs/").parse().unwrap(),
    )
    .await;
    assert_eq!((job.done, job.skipped), (0, 2));

    // Send the link to a filter: queued once per org, and never to paused orgs.
    let mut f = vec![("action", "pause_notices"), ("scope", "selected")];
    f.extend_from_slice(&two);
    let (_, loc, _) = op.post("/orgs/bulk/run", &f).await;
    wait_for_job(
        &db,
        loc.unwrap().trim_start_matches("/jobs/").parse().unwrap(),
    )
    .await;
    let (_, loc, _) = op
        .post(
            "/orgs/bulk/run",
            &[
                ("action", "send_link"),
                ("scope", "filter"),
                ("csm", "new@partner.example"),
            ],
        )
        .await;
    let job = wait_for_job(
        &db,
        loc.unwrap().trim_start_matches("/jobs/").parse().unwrap(),
    )
    .await;
    assert_eq!((job.done, job.skipped), (0, 2), "paused orgs get no link");
    let (_, loc, _) = op
        .post(
            "/orgs/bulk/run",
            &[("action", "send_link"), ("scope", "filter"), ("wave", "w2")],
        )
        .await;
    let job = wait_for_job(
        &db,
        loc.unwrap().trim_start_matches("/jobs/").parse().unwrap(),
    )
    .await;
    assert_eq!(job.done, 10);
    let queued = domain::entity::notice::Entity::find()
        .filter(domain::entity::notice::Column::Kind.eq("link"))
        .count(&db.db)
        .await
        .unwrap();
    assert_eq!(queued, 10);

    // Exempt needs a reason; bad input changes nothing.
    let (s, _, body) = op
        .post(
            "/orgs/bulk",
            &[("action", "exempt"), ("scope", "filter"), ("wave", "w2")],
        )
        .await;
    assert_eq!(s, 400);
    assert!(
        body.contains("The reason for the exemption is missing"),
        "{body}"
    );
    // Review with no action chosen says what is missing.
    let (s, _, body) = op
        .post(
            "/orgs/bulk",
            &[("action", ""), ("scope", "filter"), ("wave", "w2")],
        )
        .await;
    assert_eq!(s, 400);
    assert!(
        body.contains("Choose an action from the Bulk action list"),
        "{body}"
    );
    let (s, _, body) = op
        .post(
            "/orgs/bulk/run",
            &[
                ("action", "move_wave"),
                ("argument", "nowhere"),
                ("scope", "filter"),
            ],
        )
        .await;
    assert_eq!(s, 400);
    assert!(body.contains("no wave named `nowhere`"));
    let (s, _, body) = op
        .post(
            "/orgs/bulk",
            &[("action", "pause_notices"), ("scope", "selected")],
        )
        .await;
    assert_eq!(s, 400);
    assert!(body.contains("Tick at least one org"));
    let (s, _, _) = op
        .post(
            "/orgs/bulk/run",
            &[
                ("action", "pause_notices"),
                ("scope", "selected"),
                ("ids", "00D999999999999"),
            ],
        )
        .await;
    assert_eq!(s, 400);
    let (_, _, jobs) = op.get("/jobs").await;
    assert!(jobs.contains("move to wave late"));
}
both_backends!(
    bulk_actions_are_reviewed_confirmed_run_as_jobs_and_audited,
    bulk_actions
);

#[tokio::test]
async fn an_interrupted_job_resumes_after_its_last_chunk() {
    let db = TestDb::sqlite().await;
    let mut s = String::from("org_id,name,environment,admin_email\n");
    for i in 0..250 {
        s.push_str(&format!(
            "00D00000000{i:04},Org {i},production,a{i}@c{i}.example\n"
        ));
    }
    reauth_tests::import_csv(&db.db, &s).await;
    let now = chrono::Utc::now();
    let job = domain::staff::bulk::submit(
        &db.db,
        &domain::staff::bulk::Action::PauseNotices,
        &domain::staff::bulk::Selection::Filter(Default::default()),
        "op@partner.example",
        now,
    )
    .await
    .unwrap();
    // A runner that died after its first chunk: cursor at org 100, lease long expired.
    use sea_orm::sea_query::Expr;
    let hundredth = domain::registry::ids_after(&db.db, &Default::default(), None, 100)
        .await
        .unwrap()
        .pop()
        .unwrap();
    domain::entity::bulk_job::Entity::update_many()
        .col_expr(
            domain::entity::bulk_job::Column::Status,
            Expr::value("running"),
        )
        .col_expr(
            domain::entity::bulk_job::Column::Cursor,
            Expr::value(hundredth),
        )
        .col_expr(domain::entity::bulk_job::Column::Done, Expr::value(100))
        .col_expr(
            domain::entity::bulk_job::Column::LeaseOwner,
            Expr::value("dead"),
        )
        .col_expr(
            domain::entity::bulk_job::Column::LeaseExpiresAt,
            Expr::value(now - chrono::Duration::minutes(5)),
        )
        .exec(&db.db)
        .await
        .unwrap();
    let ran = domain::staff::bulk::run_pending(&db.db, "worker-2", chrono::Utc::now)
        .await
        .unwrap();
    assert_eq!(ran, 1);
    let j = domain::staff::bulk::get(&db.db, job.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((j.status.as_str(), j.done, j.total), ("done", 250, 250));
    // Only the 150 orgs after the cursor were touched by the second runner.
    let paused = domain::entity::org::Entity::find()
        .filter(domain::entity::org::Column::NoticesPaused.eq(true))
        .count(&db.db)
        .await
        .unwrap();
    assert_eq!(paused, 150);
    // A finished job is not run again.
    assert_eq!(
        domain::staff::bulk::run_pending(&db.db, "worker-3", chrono::Utc::now)
            .await
            .unwrap(),
        0
    );
}

async fn org_page_and_actions(db: TestDb) {
    use crate::reconsent_flow::{authorize_as, callback, new_link, start, world_custom};
    let w = world_custom(db, true, |_| {}, |_| {}).await;
    let org18 = id18("00D4c0000008cs2");
    let org = org18.as_str();
    // A real consent through sfsim gives the org a verified connection.
    let secret = new_link(&w, org).await;
    let auth = start(&w, &secret).await;
    let (s, _) = callback(&w, &authorize_as(auth, "admin@acme.com").await).await;
    assert_eq!(s, 200);
    let op = staff::first_sign_in(&w.app, "op@partner.example", Role::Operator).await;

    let (s, _, page) = op.get(&format!("/orgs/{org}")).await;
    assert_eq!(s, 200);
    assert_eq!(text_of(&page, "#org-name").unwrap(), "Acme Corp");
    assert!(text_of(&page, "#org-state").unwrap().contains("verified"));
    let conn_row = text_of(&page, "#connections tbody tr").unwrap();
    assert!(conn_row.contains("active"), "{conn_row}");
    // Days until Salesforce's idle timeout (30 days after the last exchange).
    assert!(
        conn_row.contains("29") || conn_row.contains("30"),
        "{conn_row}"
    );
    assert!(
        text_of(&page, "#contacts")
            .unwrap()
            .contains("admin@acme.com")
    );
    // Each event reads as a sentence, with its kind and raw details one click away.
    let timeline = text_of(&page, "#events").unwrap();
    assert!(timeline.contains("Consented: connection #"), "{timeline}");
    let raw = scraper::Html::parse_document(&page)
        .select(&scraper::Selector::parse("#events details.raw pre").unwrap())
        .count();
    assert!(raw > 0, "no raw details under the sentences");
    assert!(timeline.contains("consent.completed"));
    assert!(!timeline.contains("customer customer admin"), "{timeline}");
    // Never a token on the page.
    let sealer = w.app.state.sealer.clone().unwrap();
    for c in crate::reconsent_flow::connections(&w).await {
        let rt = domain::vault::store::refresh_token(&c, &sealer)
            .unwrap()
            .unwrap();
        use secrecy::ExposeSecret;
        assert!(
            !page.contains(rt.expose_secret()),
            "a refresh token reached the org page"
        );
    }

    // A note lands on the timeline under the operator's name.
    let (s, _, _) = op
        .post(
            &format!("/orgs/{org}/notes"),
            &[("text", "Spoke to Dana; will re-consent Friday")],
        )
        .await;
    assert_eq!(s, 303);
    let (_, _, page) = op.get(&format!("/orgs/{org}")).await;
    let timeline = text_of(&page, "#events").unwrap();
    assert!(timeline.contains("Spoke to Dana"), "{timeline}");
    assert!(timeline.contains("Note: Spoke to Dana"), "{timeline}");
    assert!(timeline.contains("op@partner.example"));
    assert!(!timeline.contains("staff op@partner.example"), "{timeline}");
    let (s, _, body) = op
        .post(&format!("/orgs/{org}/notes"), &[("text", "   ")])
        .await;
    assert_eq!(s, 400);
    assert!(body.contains("a note cannot be empty"));

    // A new link to copy: post, redirect, get — shown once, naming the org, and it works.
    let (s, location, _) = op
        .post(&format!("/orgs/{org}/links"), &[("mode", "copy")])
        .await;
    assert_eq!(s, 303);
    let location = location.unwrap();
    assert_eq!(location, format!("/orgs/{org}/links/new"));
    // While it waits for the page, the link sits in a session row: sealed, never as written.
    let stored: Vec<Vec<u8>> = {
        use sea_orm::EntityTrait as _;
        domain::entity::session::Entity::find()
            .all(&w.db.db)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.data)
            .collect()
    };
    let (s, _, page) = op.get(&location).await;
    assert_eq!(s, 200);
    let title = text_of(&page, "#notice-title").unwrap();
    assert!(title.starts_with("New link created for "), "{title}");
    assert!(!title.contains(org), "{title}");
    let doc = scraper::Html::parse_document(&page);
    let url = doc
        .select(&scraper::Selector::parse("#once").unwrap())
        .next()
        .unwrap()
        .value()
        .attr("value")
        .unwrap()
        .to_owned();
    assert!(url.starts_with(&format!("{}/r/", w.app.base)), "{url}");
    let secret = url.rsplit('/').next().unwrap();
    assert!(
        !stored
            .iter()
            .any(|d| d.windows(secret.len()).any(|x| x == secret.as_bytes())),
        "the link's secret is stored in plain text in the sessions table"
    );
    assert_eq!(
        reauth_tests::http_client()
            .get(&url)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // Reloading the page shows no link again and creates none.
    let links_before = text_of(&op.get(&format!("/orgs/{org}")).await.2, "#links").unwrap();
    let (s, _, page) = op.get(&location).await;
    assert_eq!(s, 200);
    assert_eq!(
        text_of(&page, "#notice-title").unwrap(),
        "This link was shown once"
    );
    assert!(!page.contains("id=\"once\""));
    let links_after = text_of(&op.get(&format!("/orgs/{org}")).await.2, "#links").unwrap();
    assert_eq!(links_before, links_after);
    // Sending is refused politely for an org that already consented.
    let (s, location, _) = op
        .post(&format!("/orgs/{org}/links"), &[("mode", "send")])
        .await;
    assert_eq!(s, 303);
    let (_, _, page) = op.get(&location.unwrap()).await;
    assert_eq!(text_of(&page, "#notice-title").unwrap(), "No link was sent");

    // A connection whose verification failed can be retried from the page. (Set up as a failed
    // identity call leaves it: the connection `verifying`, the org waiting on the partner.)
    let conn = crate::reconsent_flow::connections(&w).await.pop().unwrap();
    w.db.db
        .execute_unprepared(&format!(
            "UPDATE connections SET status = 'verifying', next_verify_at = updated_at WHERE id = {}",
            conn.id
        ))
        .await
        .unwrap();
    let id = domain::types::OrgId::parse(org).unwrap();
    domain::registry::state::apply(
        &w.db.db,
        &id,
        domain::registry::state::Change::NeedsAttention {
            reason: "verification failed".into(),
            owner: "partner".into(),
        },
        &domain::events::Actor::System,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let (s, _, page) = op
        .post(&format!("/orgs/{org}/connections/{}/verify", conn.id), &[])
        .await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(
        text_of(&page, "#notice-title").unwrap(),
        "The connection is verified"
    );
    let (_, _, page) = op.get(&format!("/orgs/{org}")).await;
    assert!(text_of(&page, "#org-state").unwrap().contains("verified"));
    // Retrying a connection that is not waiting for verification is explained.
    let (s, _, body) = op
        .post(&format!("/orgs/{org}/connections/{}/verify", conn.id), &[])
        .await;
    assert_eq!(s, 400);
    assert!(body.contains("not waiting for verification"));
    // A connection id of another org is refused.
    let (s, _, _) = op
        .post(
            &format!("/orgs/00D4c0000008cs3AAA/connections/{}/revoke", conn.id),
            &[],
        )
        .await;
    assert_eq!(s, 400);

    // Revoking the working connection revokes it at Salesforce and sends the org back to
    // re-consent.
    let (s, _, page) = op
        .post(&format!("/orgs/{org}/connections/{}/revoke", conn.id), &[])
        .await;
    assert_eq!(s, 200, "{page}");
    assert!(page.contains("revoked at Salesforce"), "{page}");
    let (_, _, page) = op.get(&format!("/orgs/{org}")).await;
    assert!(
        text_of(&page, "#org-state")
            .unwrap()
            .contains("needs reauth")
    );
    let sealer = w.app.state.sealer.clone().unwrap();
    let rt = domain::vault::store::refresh_token(&conn, &sealer)
        .unwrap()
        .unwrap();
    let sf = w.app.state.vault.as_ref().unwrap().sf().clone();
    let login =
        domain::types::LoginUrl::parse(w.sim.base_url(), &[w.sim.host_port().to_owned()]).unwrap();
    let refreshed = sf.refresh(&login, &rt).await;
    assert!(
        refreshed.is_err(),
        "the revoked token must no longer refresh"
    );

    // Unknown and malformed org ids.
    let (s, _, body) = op.get(&format!("/orgs/{}", id18("00D000000000999"))).await;
    assert_eq!(s, 404);
    assert!(body.contains("No such org"));
    let (s, _, _) = op.get("/orgs/not-an-org").await;
    assert_eq!(s, 400);
}
both_backends!(
    the_org_page_shows_everything_and_its_actions_work,
    org_page_and_actions
);

async fn overview_waves_and_events(db: TestDb) {
    let app = seeded(&db).await;
    let now = chrono::Utc::now();
    domain::campaign::set_schedule(
        &db.db,
        "w1",
        Some(now - chrono::Duration::days(10)),
        Some(now + chrono::Duration::days(20)),
        &domain::events::Actor::System,
        now,
    )
    .await
    .unwrap();
    // Five w1 orgs consented, on different days.
    for i in 0..5 {
        let id = domain::types::OrgId::parse(&format!("00D000000000{i:03}")).unwrap();
        domain::registry::state::apply(
            &db.db,
            &id,
            domain::registry::state::Change::Advance(domain::registry::state::OrgState::Consented),
            &domain::events::Actor::System,
            now - chrono::Duration::days(5 - i),
        )
        .await
        .unwrap();
    }
    domain::alerts::raise(
        &db.db,
        "refresh_failures",
        domain::alerts::Severity::Warning,
        None,
        "12 refreshes failed in the last hour",
        serde_json::json!({}),
        now,
    )
    .await
    .unwrap();
    let op = staff::first_sign_in(&app, "op@partner.example", Role::Operator).await;
    let (s, _, page) = op.get("/").await;
    assert_eq!(s, 200);
    let counts = text_of(&page, "#state-counts").unwrap();
    assert!(counts.contains("30"), "{counts}");
    assert!(
        counts.contains("25") && counts.contains("pending"),
        "{counts}"
    );
    // The burn-down has the ideal line and five completions.
    let burn = text_of(&page, "#burn-down").unwrap();
    assert!(burn.contains("15 of 20 remaining"), "{burn}");
    assert!(page.contains(r#"class="ideal""#));
    assert!(page.contains("Burn-down of wave w1: 15 of 20 orgs remaining"));
    // The funnel counts orgs that got at least this far.
    assert!(page.contains("30 (100%)"));
    assert!(page.contains("5 (17%)"), "consented: 5 of 30");
    let alerts = text_of(&page, "#alerts").unwrap();
    assert!(alerts.contains("12 refreshes failed"));
    // Acknowledge the alert.
    let alert_id = domain::entity::alert::Entity::find()
        .one(&db.db)
        .await
        .unwrap()
        .unwrap()
        .id;
    let (s, _, _) = op
        .post(&format!("/alerts/{alert_id}/acknowledge"), &[])
        .await;
    assert_eq!(s, 303);
    let (_, _, page) = op.get("/").await;
    assert!(
        text_of(&page, "#alerts")
            .unwrap()
            .contains("acknowledged by op@partner.example")
    );

    // Waves page: progress and the schedule's steps with dates; pause and resume.
    let (s, _, page) = op.get("/waves").await;
    assert_eq!(s, 200);
    assert!(page.contains("25% done"), "{page}");
    assert!(page.contains("announce —"));
    let (s, _, _) = op.post("/waves/w1/paused", &[("paused", "true")]).await;
    assert_eq!(s, 303);
    let (_, _, page) = op.get("/waves").await;
    assert!(page.contains("Resume notices for this wave"));

    // Events: filters, paging, CSV.
    let (s, _, page) = op.get("/events?kind=org.state_changed").await;
    assert_eq!(s, 200);
    let rows = scraper::Html::parse_document(&page)
        .select(&scraper::Selector::parse("#event-table tbody tr").unwrap())
        .count();
    assert_eq!(rows, 5);
    let (_, _, page) = op.get("/events?actor=op%40partner.example").await;
    assert!(page.contains("wave.paused"));
    assert!(!page.contains("org.state_changed"));
    let (_, _, page) = op.get("/events?kind=staff.").await;
    assert!(page.contains("staff.signed_in"));
    let (s, _, body) = op.get("/events?since=yesterday").await;
    assert_eq!(s, 400);
    assert!(body.contains("since must be a date"));
    let r = op
        .client
        .get(format!("{}/events.csv?kind=org.", app.base))
        .send()
        .await
        .unwrap();
    let body = r.text().await.unwrap();
    let mut rd = csv::Reader::from_reader(body.as_bytes());
    assert_eq!(
        rd.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "id",
            "at",
            "actor_kind",
            "actor",
            "org_id",
            "kind",
            "details"
        ]
    );
    // 30 imports + 5 consents.
    assert_eq!(rd.records().count(), 35);
}
both_backends!(
    overview_waves_and_events_show_the_rollout,
    overview_waves_and_events
);

#[tokio::test]
async fn the_event_export_pages_through_more_than_one_chunk() {
    let db = TestDb::sqlite().await;
    let now = chrono::Utc::now();
    let events: Vec<domain::events::NewEvent> = (0..12_000)
        .map(|i| domain::events::NewEvent {
            at: now - chrono::Duration::seconds(i),
            actor: domain::events::Actor::System,
            org_id: None,
            kind: "test.bulk".into(),
            details: serde_json::json!({ "i": i }),
        })
        .collect();
    domain::events::record_many(&db.db, events).await.unwrap();
    let app = TestApp::spawn(&db, config()).await;
    let v = staff::first_sign_in(&app, "vi@partner.example", Role::Viewer).await;
    let body = v
        .client
        .get(format!("{}/events.csv?kind=test.bulk", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut rd = csv::Reader::from_reader(body.as_bytes());
    let ids: std::collections::HashSet<String> =
        rd.records().map(|r| r.unwrap()[0].to_owned()).collect();
    assert_eq!(ids.len(), 12_000, "every event exactly once");
}

#[tokio::test]
async fn a_cancelled_job_is_not_resumed_and_says_so() {
    let db = TestDb::sqlite().await;
    let app = seeded(&db).await;
    let op = staff::first_sign_in(&app, "op@partner.example", Role::Operator).await;
    let job = domain::staff::bulk::submit(
        &db.db,
        &domain::staff::bulk::Action::PauseNotices,
        &domain::staff::bulk::Selection::Filter(Default::default()),
        "op@partner.example",
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let (_, _, page) = op.get(&format!("/jobs/{}", job.id)).await;
    assert!(
        page.contains("id=\"cancel-job\""),
        "a queued job can be cancelled"
    );
    let (s, _, _) = op.post(&format!("/jobs/{}/cancel", job.id), &[]).await;
    assert_eq!(s, 303);
    let (s, _, body) = op.post(&format!("/jobs/{}/cancel", job.id), &[]).await;
    assert_eq!(s, 400);
    assert!(body.contains("has already ended"));
    // No runner picks it up, and nothing was paused.
    assert_eq!(
        domain::staff::bulk::run_pending(&db.db, "w", chrono::Utc::now)
            .await
            .unwrap(),
        0
    );
    let j = domain::staff::bulk::get(&db.db, job.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((j.status.as_str(), j.done), ("cancelled", 0));
    let paused = domain::entity::org::Entity::find()
        .filter(domain::entity::org::Column::NoticesPaused.eq(true))
        .count(&db.db)
        .await
        .unwrap();
    assert_eq!(paused, 0);
    let (_, _, page) = op.get(&format!("/jobs/{}", job.id)).await;
    assert_eq!(
        scraper::Html::parse_document(&page)
            .select(&scraper::Selector::parse("#job-status").unwrap())
            .next()
            .unwrap()
            .value()
            .attr("data-status"),
        Some("cancelled")
    );
}
