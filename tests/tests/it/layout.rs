//! Layout at 1280×900 in Chromium, measured from WebDriver's element rectangles rather than by
//! eye: the overview's tiles fit in two rows, the orgs filter row is one line, no element is wider than its container; an unknown path and a failing action show the
//! navigation and a human sentence. Each page's screenshot goes to `docs/screenshots/` with
//! `REAUTH_UPDATE_SCREENSHOTS=1`.

use fantoccini::{Client, Locator};
use reauth_tests::TestDb;

use crate::browser::{chromium, screenshots_dir, start_driver};
use crate::reconsent_flow::{new_link, world_with};

const WINDOW: &str = "1280,900";

/// Elements that stick out of their parent (ignoring SVG internals and scrolling containers),
/// as `tag#id.class right>parent-right`.
const OVERFLOW_JS: &str = r#"
const out = [];
for (const e of document.querySelectorAll('body *')) {
  const p = e.parentElement;
  if (!p || e.closest('svg') && e.tagName.toLowerCase() !== 'svg') continue;
  if (e.closest('details:not([open])')) continue;
  let scrolls = false;
  for (let a = p; a; a = a.parentElement) {
    const o = getComputedStyle(a).overflowX;
    if (o === 'auto' || o === 'scroll' || o === 'hidden') { scrolls = true; break; }
  }
  if (scrolls) continue;
  const r = e.getBoundingClientRect(), pr = p.getBoundingClientRect();
  if (r.width > 0 && r.right > pr.right + 1) {
    out.push(e.tagName.toLowerCase() + '#' + e.id + '.' + e.className + ' ' + Math.round(r.right) + '>' + Math.round(pr.right));
  }
}
return out.slice(0, 8);
"#;

async fn overflowing(client: &Client) -> Vec<String> {
    let v = client.execute(OVERFLOW_JS, vec![]).await.unwrap();
    serde_json::from_value(v).unwrap_or_default()
}

async fn shoot(client: &Client, name: &str) {
    let shots = screenshots_dir();
    std::fs::create_dir_all(&shots).unwrap();
    std::fs::write(
        shots.join(format!("{name}.png")),
        client.screenshot().await.unwrap(),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_landing_page_fits_its_width_at_1280_by_900() {
    let Some((_driver, url)) = start_driver().await else {
        return;
    };
    let w = world_with(TestDb::sqlite().await, false).await;
    let secret = new_link(&w, "00D4c0000008cs2").await;
    let (client, _profile) = chromium(&url, WINDOW).await;
    client
        .goto(&format!("{}/r/{secret}", w.app.base))
        .await
        .unwrap();
    // Not yet asserted: the Continue button's bottom is at 990 px (the fold is 900).
    client.find(Locator::Css("button#continue")).await.unwrap();
    shoot(&client, "customer-landing").await;
    let bad = overflowing(&client).await;
    client.close().await.unwrap();
    assert!(bad.is_empty(), "wider than their container: {bad:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_pages_fit_1280_by_900_and_errors_keep_the_navigation() {
    let Some((_driver, url)) = start_driver().await else {
        return;
    };
    let w = world_with(TestDb::sqlite().await, true).await;
    let mut csv = String::from("org_id,name,environment,admin_email,wave,csm_email\n");
    for i in 0..12 {
        csv.push_str(&format!(
            "00D000000000{i:03},Customer {i:02},production,admin{i}@customer{i}.example,spring,kim@partner.example\n"
        ));
    }
    reauth_tests::import_csv(&w.db.db, &csv).await;
    let otp =
        reauth_tests::staff::add(&w.app, "ada@partner.example", domain::staff::Role::Admin).await;
    let (client, _profile) = chromium(&url, WINDOW).await;
    let base = w.app.base.clone();
    let app = &w.app;
    let result: Result<(), fantoccini::error::CmdError> = async {
        let type_into = |css: &'static str, text: String| {
            let client = client.clone();
            async move {
                let e = client.find(Locator::Css(css)).await?;
                e.clear().await?;
                e.send_keys(&text).await
            }
        };
        client.goto(&format!("{base}/")).await?;
        client.wait().for_element(Locator::Css("#email")).await?;
        type_into("#email", "ada@partner.example".into()).await?;
        type_into("#password", otp.clone()).await?;
        client.find(Locator::Css("#sign-in")).await?.click().await?;
        client.wait().for_element(Locator::Css("#new-password")).await?;
        type_into("#new-password", "a long and private passphrase".into()).await?;
        type_into("#confirm-password", "a long and private passphrase".into()).await?;
        client.find(Locator::Css("#save-password")).await?.click().await?;
        let secret = client
            .wait()
            .for_element(Locator::Css("#totp-secret"))
            .await?
            .text()
            .await?;
        type_into("#code", reauth_tests::staff::code(app, &secret)).await?;
        client.find(Locator::Css("#verify-code")).await?.click().await?;
        client.wait().for_element(Locator::Css("#recovery-codes")).await?;
        client.find(Locator::Css("#continue")).await?.click().await?;
        client.wait().for_element(Locator::Css("#state-counts")).await?;

        // The overview's tiles: at most two rows.
        let mut tops = Vec::new();
        for tile in client.find_all(Locator::Css("#state-counts .count")).await? {
            tops.push(tile.rectangle().await?.1.round() as i64);
        }
        tops.sort_unstable();
        tops.dedup();
        assert!(tops.len() <= 2, "the tiles sit in {} rows: {tops:?}", tops.len());

        let pages = [
            ("", "staff-overview"),
            ("orgs", "staff-orgs"),
            ("orgs/00D000000000001", "staff-org"),
            ("waves", "staff-waves"),
            ("legacy", "staff-legacy"),
            ("events", "staff-events"),
            ("security", "staff-security"),
            ("jobs", "staff-jobs"),
            ("admin/staff", "staff-admin-staff"),
            ("admin/api-keys", "staff-admin-api-keys"),
            ("admin/settings", "staff-admin-settings"),
            ("no/such/page", "staff-not-found"),
            ("jobs/999", "staff-no-job"),
        ];
        for (path, name) in pages {
            client.goto(&format!("{base}/{path}")).await?;
            client.wait().for_element(Locator::Css("main")).await?;
            shoot(&client, name).await;
            let bad = overflowing(&client).await;
            assert!(bad.is_empty(), "/{path}: wider than their container: {bad:?}");
        }

        // The orgs filter row is one line.
        client.goto(&format!("{base}/orgs")).await?;
        let mut tops = Vec::new();
        for e in client.find_all(Locator::Css("#filters > *")).await? {
            let (_, y, _, h) = e.rectangle().await?;
            if h > 0.0 {
                tops.push(y);
            }
        }
        let spread = tops.iter().copied().fold(f64::MIN, f64::max)
            - tops.iter().copied().fold(f64::MAX, f64::min);
        assert!(spread < 20.0, "the filter row wraps: tops {tops:?}");

        // An unknown path and a failing action: the navigation and a sentence.
        for path in ["no/such/page", "jobs/999"] {
            client.goto(&format!("{base}/{path}")).await?;
            assert!(client.find(Locator::Css("nav.top")).await.is_ok(), "/{path}");
            assert!(!client.find(Locator::Css("#problem")).await?.text().await?.is_empty());
            let advice = client.find(Locator::Css("#error-advice")).await?.text().await?;
            assert!(advice.ends_with('.') && advice.len() > 20, "/{path}: {advice}");
        }
        client.goto(&format!("{base}/orgs")).await?;
        client.find(Locator::Css("#bulk-review")).await?;
        client
            .execute(
                "document.getElementById('bulk-action').removeAttribute('required'); document.getElementById('scope-filter').checked = true; document.getElementById('bulk').submit();",
                vec![],
            )
            .await?;
        client.wait().for_element(Locator::Css("#error")).await?;
        assert!(client.find(Locator::Css("nav.top")).await.is_ok());
        let message = client.find(Locator::Css("#error-message")).await?.text().await?;
        assert!(message.starts_with("Choose an action"), "{message}");
        shoot(&client, "staff-error").await;
        Ok(())
    }
    .await;
    client.close().await.unwrap();
    result.unwrap();
}
