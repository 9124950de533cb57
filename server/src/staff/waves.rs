//! Waves: each wave's progress, schedule and pause switch.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use domain::campaign::Steps;
use domain::staff::dashboard::WaveProgress;
use http::StatusCode;

use super::view::{Nav, day, days_until, when};
use super::{CurrentStaff, FormData, charts};
use crate::AppState;
use crate::error::AppError;
use crate::pages::render;
use crate::security::redirect;

struct StepRow {
    kind: String,
    due: String,
    past: bool,
}

struct WaveRow {
    name: String,
    /// The name, percent-encoded for URLs.
    enc_name: String,
    starts: String,
    deadline: String,
    days_left: Option<i64>,
    paused: bool,
    total: u64,
    remaining: u64,
    done_pct: u64,
    bar: String,
    legend: Vec<(String, u64, &'static str)>,
    steps: Vec<StepRow>,
    schedule: String,
}

#[derive(Template)]
#[template(path = "staff/waves.html")]
struct WavesPage {
    nav: Nav,
    waves: Vec<WaveRow>,
}

/// The state bar's order, from done to stuck.
const ORDER: [&str; 9] = [
    "legacy_retired",
    "verified",
    "consented",
    "opened",
    "notified",
    "pending",
    "needs_attention",
    "needs_reauth",
    "exempt",
];

/// The wave's steps with their due times, when its schedule parses and it has both dates.
fn step_rows(schedule: &str, w: &WaveProgress, now: chrono::DateTime<chrono::Utc>) -> Vec<StepRow> {
    match (Steps::parse(schedule), w.starts_at, w.deadline) {
        (Ok(steps), Some(s), Some(d)) => steps
            .0
            .iter()
            .map(|st| {
                let due = st.due(s, d);
                StepRow {
                    kind: st.kind.as_str().to_owned(),
                    due: when(&due),
                    past: due <= now,
                }
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// One wave's row: its state bar and legend, dates and steps.
fn wave_row(w: WaveProgress, schedule: String, now: chrono::DateTime<chrono::Utc>) -> WaveRow {
    let parts: Vec<(String, u64)> = ORDER
        .iter()
        .map(|s| ((*s).to_owned(), w.by_state.get(*s).copied().unwrap_or(0)))
        .collect();
    let steps = step_rows(&schedule, &w, now);
    WaveRow {
        bar: charts::state_bar(&parts, 480.0),
        legend: parts
            .iter()
            .filter(|p| p.1 > 0)
            .map(|(s, n)| (s.replace('_', " "), *n, charts::state_colour(s)))
            .collect(),
        done_pct: ((w.total - w.remaining) * 100)
            .checked_div(w.total)
            .unwrap_or(0),
        starts: w.starts_at.as_ref().map(day).unwrap_or_else(|| "—".into()),
        deadline: w.deadline.as_ref().map(day).unwrap_or_else(|| "—".into()),
        days_left: w.deadline.as_ref().map(|d| days_until(d, now)),
        enc_name: super::view::enc(&w.name),
        name: w.name,
        paused: w.paused,
        total: w.total,
        remaining: w.remaining,
        steps,
        schedule,
    }
}

pub(crate) async fn page(
    State(state): State<AppState>,
    staff: CurrentStaff,
) -> Result<Response, AppError> {
    let now = state.clock.now();
    let progress = domain::staff::dashboard::wave_progress(&state.db, now).await?;
    let views = domain::campaign::all_waves(&state.db).await?;
    let waves = progress
        .into_iter()
        .map(|w| {
            let view = views.iter().find(|v| v.name == w.name);
            let schedule = view.map(|v| v.steps.clone()).unwrap_or_default();
            wave_row(w, schedule, now)
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        &WavesPage {
            nav: Nav::new(&state, &staff, "waves"),
            waves,
        },
    ))
}

pub(crate) async fn set_paused(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(name): Path<String>,
    form: FormData,
) -> Result<Response, AppError> {
    let paused = form.bool("paused")?;
    domain::campaign::set_paused(&state.db, &name, paused, &staff.actor(), state.clock.now())
        .await?;
    Ok(redirect("/waves"))
}
