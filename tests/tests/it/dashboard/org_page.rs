//! The org page: everything about one org, and its actions.

use domain::staff::Role;
use reauth_tests::staff::{self, text_of};
use reauth_tests::{TestDb, both_backends};
use sea_orm::ConnectionTrait;

use super::id18;

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
