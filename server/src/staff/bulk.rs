//! Bulk actions: review (what will happen to how many orgs), confirm (a job is queued and
//! started at once), and the jobs' progress pages.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use domain::entity::bulk_job;
use domain::staff::bulk::{Action, Selection};
use http::StatusCode;

use super::orgs::ListQuery;
use super::view::{Nav, when};
use super::{CurrentStaff, FormData};
use crate::AppState;
use crate::error::AppError;
use crate::pages::render;
use crate::security::redirect;

/// Orgs listed by name on the review page.
const SAMPLE: usize = 20;

fn parse(
    form: &FormData,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(Action, Selection, ListQuery), AppError> {
    let action = Action::parse(form.get("action").unwrap_or_default(), form.get("argument"))?;
    let query = ListQuery::from_form(form);
    let selection = match form.get("scope") {
        Some("filter") => Selection::Filter(query.spec(now)?),
        Some("selected") | None => {
            let ids = form.all("ids");
            if ids.is_empty() {
                return Err(AppError::bad_request(
                    "Tick at least one org, or choose \"all matching orgs\".",
                ));
            }
            Selection::Ids { ids }
        }
        Some(other) => {
            return Err(AppError::bad_request(format!(
                "scope must be selected or filter, not `{other}`"
            )));
        }
    };
    Ok((action, selection, query))
}

#[derive(Template)]
#[template(path = "staff/bulk_confirm.html")]
struct ConfirmPage {
    nav: Nav,
    description: String,
    count: u64,
    sample: Vec<(String, String, String)>,
    /// Every field to post again, as (name, value).
    fields: Vec<(String, String)>,
    back: String,
}

/// How many orgs the selection holds, and the ids of the first [`SAMPLE`] of them.
async fn count_and_sample(
    state: &AppState,
    selection: &Selection,
) -> Result<(u64, Vec<String>), AppError> {
    Ok(match selection {
        Selection::Ids { ids } => (ids.len() as u64, ids.iter().take(SAMPLE).cloned().collect()),
        Selection::Filter(spec) => {
            let f = spec.to_filter()?;
            (
                domain::registry::count(&state.db, &f).await?,
                domain::registry::ids_after(&state.db, &f, None, SAMPLE as u64).await?,
            )
        }
    })
}

/// Every field the review page posts again, as (name, value).
fn fields(action: &Action, selection: &Selection, form: &FormData) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = vec![
        ("action".into(), action.name().into()),
        ("argument".into(), action.argument().unwrap_or_default()),
    ];
    match selection {
        Selection::Ids { ids } => {
            fields.push(("scope".into(), "selected".into()));
            fields.extend(ids.iter().map(|i| ("ids".to_owned(), i.clone())));
        }
        Selection::Filter(_) => {
            fields.push(("scope".into(), "filter".into()));
            for k in ["q", "state", "wave", "env", "csm", "overdue"] {
                if let Some(v) = form.get(k) {
                    fields.push((k.into(), v.into()));
                }
            }
        }
    }
    fields
}

pub(crate) async fn confirm(
    State(state): State<AppState>,
    staff: CurrentStaff,
    form: FormData,
) -> Result<Response, AppError> {
    let now = state.clock.now();
    let (action, selection, query) = parse(&form, now)?;
    let (count, sample_ids) = count_and_sample(&state, &selection).await?;
    if count == 0 {
        return Err(AppError::bad_request("The filter matches no orgs."));
    }
    let sample = domain::registry::summaries(&state.db, &sample_ids)
        .await?
        .into_iter()
        .map(|o| (o.org_id.to_string(), o.name, o.state.as_str().to_owned()))
        .collect();
    let page = ConfirmPage {
        nav: Nav::new(&state, &staff, "orgs"),
        description: action.describe(),
        count,
        sample,
        fields: fields(&action, &selection, &form),
        back: query.href(&[]),
    };
    Ok(render(StatusCode::OK, &page))
}

pub(crate) async fn submit(
    State(state): State<AppState>,
    staff: CurrentStaff,
    form: FormData,
) -> Result<Response, AppError> {
    let now = state.clock.now();
    let (action, selection, _) = parse(&form, now)?;
    let job =
        domain::staff::bulk::submit(&state.db, &action, &selection, &staff.user.email, now).await?;
    // Start at once in this process; a worker picks it up instead if this process stops.
    let (db, clock, id) = (state.db.clone(), state.clock.clone(), job.id);
    tokio::spawn(async move {
        let owner = format!("server-{}-{}", std::process::id(), uuid::Uuid::new_v4());
        if let Err(e) = domain::staff::bulk::run(&db, id, &owner, &|| clock.now()).await {
            tracing::error!(job = id, error = %e, "bulk job failed");
        }
    });
    Ok(redirect(&format!("/jobs/{}", job.id)))
}

struct JobRow {
    id: i64,
    description: String,
    status: String,
    total: i64,
    done: i64,
    skipped: i64,
    failed: i64,
    percent: i64,
    created_by: String,
    created: String,
    finished: String,
    error: String,
    running: bool,
}

fn row(j: bulk_job::Model) -> JobRow {
    let description = Action::parse(&j.action, j.argument.as_deref())
        .map(|a| a.describe())
        .unwrap_or_else(|_| j.action.clone());
    let processed = j.done + j.skipped + j.failed;
    JobRow {
        id: j.id,
        description,
        running: j.status.is_open(),
        percent: (processed * 100)
            .checked_div(j.total)
            .unwrap_or(100)
            .min(100),
        status: j.status.to_string(),
        total: j.total,
        done: j.done,
        skipped: j.skipped,
        failed: j.failed,
        created_by: j.created_by,
        created: when(&j.created_at),
        finished: j.finished_at.as_ref().map(when).unwrap_or_default(),
        error: j.error.unwrap_or_default(),
    }
}

#[derive(Template)]
#[template(path = "staff/jobs.html")]
struct JobsPage {
    nav: Nav,
    jobs: Vec<JobRow>,
    any_running: bool,
}

pub(crate) async fn list(
    State(state): State<AppState>,
    staff: CurrentStaff,
) -> Result<Response, AppError> {
    let jobs: Vec<JobRow> = domain::staff::bulk::recent(&state.db, 100)
        .await?
        .into_iter()
        .map(row)
        .collect();
    Ok(render(
        StatusCode::OK,
        &JobsPage {
            nav: Nav::new(&state, &staff, "jobs"),
            any_running: jobs.iter().any(|j| j.running),
            jobs,
        },
    ))
}

#[derive(Template)]
#[template(path = "staff/job.html")]
struct JobPage {
    nav: Nav,
    job: JobRow,
    bar: String,
}

pub(crate) async fn page(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let Some(job) = domain::staff::bulk::get(&state.db, id).await? else {
        return Err(AppError::not_found(format!("There is no job {id}.")));
    };
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    let bar = super::charts::progress_bar(
        n(job.done),
        n(job.skipped),
        n(job.failed),
        n(job.total - job.done - job.skipped - job.failed),
        480.0,
    );
    Ok(render(
        StatusCode::OK,
        &JobPage {
            nav: Nav::new(&state, &staff, "jobs"),
            job: row(job),
            bar,
        },
    ))
}

pub(crate) async fn cancel(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    if !domain::staff::bulk::cancel(&state.db, id, &staff.actor(), state.clock.now()).await? {
        return Err(AppError::bad_request(format!("job {id} has already ended")));
    }
    Ok(redirect(&format!("/jobs/{id}")))
}
