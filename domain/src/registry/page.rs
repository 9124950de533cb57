//! One page of the org list as the dashboard shows it: the orgs on the page, how many match in
//! all, and the waves to filter by.

use sea_orm::ConnectionTrait;

use super::{ListFilter, OrgSummary, count, list};
use crate::error::Result;

/// One page of matching orgs.
pub struct OrgPage {
    pub orgs: Vec<OrgSummary>,
    /// How many orgs match in all pages.
    pub total: u64,
    /// Every wave's name, for the filter.
    pub waves: Vec<String>,
    /// The 1-based position of the page's first org (0 when the page is empty) and its last.
    pub first: u64,
    pub last: u64,
}

/// Page `page` (1-based) of `per` orgs matching `filter` (its limit and offset are set here).
pub async fn list_page<C: ConnectionTrait>(
    db: &C,
    mut filter: ListFilter,
    page: u64,
    per: u64,
) -> Result<OrgPage> {
    let skip = page.saturating_sub(1).saturating_mul(per);
    filter.limit = Some(per);
    filter.offset = Some(skip);
    let orgs = list(db, &filter).await?;
    // A first page that is not full is the whole result: no second pass to count it (a search
    // scans names and emails, so this halves its cost).
    let total = if page == 1 && (orgs.len() as u64) < per {
        orgs.len() as u64
    } else {
        count(db, &filter).await?
    };
    let waves = crate::campaign::all_waves(db)
        .await?
        .into_iter()
        .map(|w| w.name)
        .collect();
    let first = if orgs.is_empty() { 0 } else { skip + 1 };
    let last = skip + orgs.len() as u64;
    Ok(OrgPage {
        orgs,
        total,
        waves,
        first,
        last,
    })
}
