//! Bulk jobs: reviewed, confirmed, run in chunks, resumed after an interruption, cancelled.

use domain::staff::Role;
use reauth_tests::staff::{self, text_of};
use reauth_tests::{TestDb, both_backends};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use super::{id18, ids_in, seeded};

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
