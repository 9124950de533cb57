//! The customer admin's pages at 1280×900: the landing page's button above the fold, and every
//! page the consent flow can end on, none wider than its container.

use reauth_tests::TestDb;

use super::{HEIGHT, bottom_of, overflowing, shoot, viewport};
use crate::browser::start_driver;
use crate::reconsent_flow::{new_link, world_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_landing_pages_button_is_above_the_fold_at_1280_by_900() {
    let Some((_driver, url)) = start_driver().await else {
        return;
    };
    let w = world_with(TestDb::sqlite().await, false).await;
    let secret = new_link(&w, "00D4c0000008cs2").await;
    let (client, _profile) = viewport(&url).await;
    client
        .goto(&format!("{}/r/{secret}", w.app.base))
        .await
        .unwrap();
    let bottom = bottom_of(&client, "button#continue").await;
    shoot(&client, "customer-landing").await;
    let bad = overflowing(&client).await;
    client.close().await.unwrap();
    assert!(
        bottom <= HEIGHT as f64,
        "the Continue button ends at {bottom} px, below the fold at {HEIGHT} px"
    );
    assert!(bad.is_empty(), "wider than their container: {bad:?}");
}
