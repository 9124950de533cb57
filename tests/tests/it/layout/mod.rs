//! Layout with a 1280×900 viewport in Chromium, measured from WebDriver's element rectangles
//! rather than by eye: no element is wider than its container, on every customer page
//! (`customer`) and every staff page (`staff`). Each page's screenshot goes to
//! `docs/screenshots/` with `REAUTH_UPDATE_SCREENSHOTS=1`.

mod customer;
mod staff;

use fantoccini::{Client, Locator};

use crate::browser::{chromium, screenshots_dir};

/// The viewport every page is measured in: the fold is at `HEIGHT`.
const WIDTH: i64 = 1280;
const HEIGHT: i64 = 900;

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

pub(super) async fn overflowing(client: &Client) -> Vec<String> {
    let v = client.execute(OVERFLOW_JS, vec![]).await.unwrap();
    serde_json::from_value(v).unwrap_or_default()
}

pub(crate) async fn shoot(client: &Client, name: &str) {
    let shots = screenshots_dir();
    std::fs::create_dir_all(&shots).unwrap();
    std::fs::write(
        shots.join(format!("{name}.png")),
        client.screenshot().await.unwrap(),
    )
    .unwrap();
}

/// A Chromium session whose viewport (not its window, which includes the browser's own frame)
/// is 1280×900.
pub(super) async fn viewport(url: &str) -> (Client, tempfile::TempDir) {
    let (client, profile) = chromium(url, &format!("{WIDTH},{HEIGHT}")).await;
    let inner = client
        .execute("return [window.innerWidth, window.innerHeight];", vec![])
        .await
        .unwrap();
    let inner: (i64, i64) = serde_json::from_value(inner).unwrap();
    let (w, h) = (2 * WIDTH - inner.0, 2 * HEIGHT - inner.1);
    client
        .set_window_size(u32::try_from(w).unwrap(), u32::try_from(h).unwrap())
        .await
        .unwrap();
    (client, profile)
}

/// The bottom edge of the element `css` in page pixels (0 is the top of the page).
pub(super) async fn bottom_of(client: &Client, css: &str) -> f64 {
    let (_, y, _, h) = client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .rectangle()
        .await
        .unwrap();
    y + h
}
