//! The searchable, sortable, paged org list.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use domain::registry::state::OrgState;
use domain::registry::{ListFilter, Sort};
use http::StatusCode;

use super::{ListQuery, OrgLabel};
use crate::AppState;
use crate::error::AppError;
use crate::pages::render;
use crate::staff::CurrentStaff;
use crate::staff::view::Nav;

struct Row {
    org: OrgLabel,
    admin_email: String,
    csm_email: String,
}

struct SortLink {
    label: &'static str,
    href: String,
    /// "", "▲" or "▼"
    mark: &'static str,
}

#[derive(Template)]
#[template(path = "staff/orgs.html")]
struct OrgsPage {
    nav: Nav,
    query: ListQuery,
    states: Vec<&'static str>,
    waves: Vec<String>,
    total: u64,
    rows: Vec<Row>,
    sorts: Vec<SortLink>,
    first: u64,
    last: u64,
    prev: Option<String>,
    next: Option<String>,
    /// The matching orgs in import format, and as the wider report.
    csv: String,
    report: String,
    overdue: bool,
}

pub(crate) async fn list(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Query(query): Query<ListQuery>,
) -> Result<Response, AppError> {
    let spec = query.spec(state.clock.now())?;
    let sort = query.sort()?;
    let (per, page) = (query.per(), query.page());
    let mut filter: ListFilter = spec.to_filter()?;
    filter.sort = sort;
    filter.descending = query.descending();
    let found = domain::registry::list_page(&state.db, filter, page, per).await?;
    let (total, last) = (found.total, found.last);
    let sorts = sort_links(&query, sort);
    let all = query.href(&[("page", None), ("sort", None), ("dir", None), ("per", None)]);
    let page_html = OrgsPage {
        nav: Nav::new(&state, &staff, "orgs"),
        states: OrgState::ALL.map(|s| s.as_str()).to_vec(),
        waves: found.waves,
        total,
        rows: found.orgs.into_iter().map(row).collect(),
        sorts,
        first: found.first,
        last,
        prev: (page > 1).then(|| query.href(&[("page", Some((page - 1).to_string()))])),
        next: (last < total).then(|| query.href(&[("page", Some((page + 1).to_string()))])),
        csv: all.replacen("/orgs", "/orgs.csv", 1),
        report: all.replacen("/orgs", "/orgs-report.csv", 1),
        overdue: query.overdue(),
        query,
    };
    Ok(render(StatusCode::OK, &page_html))
}

/// The column headings' links: each sorts by its column, and the current one flips direction.
fn sort_links(query: &ListQuery, sort: Sort) -> Vec<SortLink> {
    [
        ("Name", Sort::Name),
        ("State", Sort::State),
        ("Wave", Sort::Wave),
        ("Last change", Sort::Changed),
    ]
    .into_iter()
    .map(|(label, s)| {
        let current = s == sort;
        let dir = if current && !query.descending() {
            Some("desc".to_owned())
        } else {
            None
        };
        SortLink {
            label,
            href: query.href(&[
                ("sort", Some(s.as_str().to_owned())),
                ("dir", dir),
                ("page", None),
            ]),
            mark: match (current, query.descending()) {
                (false, _) => "",
                (true, false) => "▲",
                (true, true) => "▼",
            },
        }
    })
    .collect()
}

fn row(o: domain::registry::OrgSummary) -> Row {
    Row {
        org: OrgLabel::of(&o),
        admin_email: o.admin_email.unwrap_or_default(),
        csm_email: o.csm_email.unwrap_or_default(),
    }
}
