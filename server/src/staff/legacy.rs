//! `/legacy`: can the legacy Connected App be removed yet? And the org page's two legacy
//! actions: accept a standby connection's user, retire the legacy connection now.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use domain::legacy::report::{self, Readiness, StillOnLegacy};
use domain::types::OrgId;
use http::StatusCode;

use super::CurrentStaff;
use super::view::{Nav, Notice, when};
use crate::AppState;
use crate::error::AppError;
use crate::pages::render;

struct Bucket {
    label: &'static str,
    key: &'static str,
    count: usize,
}

struct Row {
    org_id: String,
    name: String,
    bucket: &'static str,
    status: String,
    wave: String,
    deadline: String,
    csm: String,
    last_served: String,
}

#[derive(Template)]
#[template(path = "staff/legacy.html")]
struct LegacyPage {
    nav: Nav,
    ready: bool,
    verdict: String,
    warning: &'static str,
    buckets: Vec<Bucket>,
    rows: Vec<Row>,
}

/// One org still served by the legacy Connected App.
fn row(r: StillOnLegacy) -> Row {
    Row {
        org_id: r.org_id.to_string(),
        name: r.name,
        bucket: r.bucket.label(),
        status: r.legacy_status.to_string(),
        wave: r.wave.unwrap_or_default(),
        deadline: r.deadline.as_ref().map(when).unwrap_or_default(),
        csm: r.csm_email.unwrap_or_default(),
        last_served: r
            .last_legacy_served
            .as_ref()
            .map(when)
            .unwrap_or_else(|| "—".into()),
    }
}

pub(crate) async fn page(
    State(state): State<AppState>,
    staff: CurrentStaff,
) -> Result<Response, AppError> {
    let Readiness {
        counts,
        still_on_legacy,
        ready,
        verdict,
        warning,
    } = report::readiness(&state.db).await?;
    let page = LegacyPage {
        nav: Nav::new(&state, &staff, "legacy"),
        ready,
        verdict,
        warning,
        buckets: counts
            .into_iter()
            .map(|(b, count)| Bucket {
                label: b.label(),
                key: b.as_str(),
                count,
            })
            .collect(),
        rows: still_on_legacy.into_iter().map(row).collect(),
    };
    Ok(render(StatusCode::OK, &page))
}

fn org_of(raw: &str) -> Result<OrgId, AppError> {
    OrgId::parse(raw).map_err(|e| AppError::not_found(format!("`{raw}`: {e}")))
}

fn back(org: &OrgId) -> (String, String) {
    (format!("/orgs/{org}"), "Back to the org".into())
}

/// "Accept the new user": the standby connection serves from now on.
pub(crate) async fn accept(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(org_id): Path<String>,
) -> Result<Response, AppError> {
    let org = org_of(&org_id)?;
    let outcome =
        domain::legacy::activate::accept_new_user(state.vault()?, &org, &staff.actor()).await?;
    let nav = Nav::new(&state, &staff, "orgs");
    let n = match outcome {
        Ok(id) => {
            let mut n = Notice::ok(
                nav,
                format!("Connection {id} now serves this org"),
                back(&org),
            );
            n.paragraphs.push("The token API answers from the External Client App connection from its next call; the legacy connection is retired after legacy.retire_after.".into());
            n
        }
        Err(why) => {
            let mut n = Notice::ok(nav, "Nothing to accept", back(&org));
            n.tone = "warn";
            n.paragraphs.push(format!("This org: {why}."));
            n
        }
    };
    Ok(render(StatusCode::OK, &n))
}

/// Retires the org's legacy connection now (a working External Client App connection required).
pub(crate) async fn retire_now(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(org_id): Path<String>,
) -> Result<Response, AppError> {
    let org = org_of(&org_id)?;
    let out = domain::legacy::retire::by_hand(
        state.vault()?,
        std::slice::from_ref(&org),
        true,
        false,
        &staff.actor(),
    )
    .await?;
    let nav = Nav::new(&state, &staff, "orgs");
    let r = &out[0];
    let mut n = Notice::ok(
        nav,
        match r.result {
            "retired" => "The legacy connection is retired",
            "retiring" => "The legacy connection is out of service",
            _ => "The legacy connection was not retired",
        },
        back(&org),
    );
    if r.result == "refused" {
        n.tone = "warn";
    }
    n.paragraphs.push(format!("{}.", r.detail));
    Ok(render(StatusCode::OK, &n))
}
