//! What the staff dashboard's overview shows: counts per state, the funnel, each wave's
//! burn-down, token health and open alerts. Every figure is an aggregate the database computes
//! over an index, so the overview stays fast with a hundred thousand orgs.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Statement,
};
use serde::Serialize;

use crate::entity::{alert, connection, org, wave};
use crate::error::Result;
use crate::registry::state::OrgState;
use crate::types::OrgId;

/// One stage of the funnel: orgs that got at least this far.
#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    pub label: &'static str,
    pub count: u64,
}

/// One wave's progress and its burn-down series.
#[derive(Debug, Clone, Serialize)]
pub struct WaveProgress {
    pub name: String,
    pub starts_at: Option<DateTime<Utc>>,
    pub deadline: Option<DateTime<Utc>>,
    pub paused: bool,
    pub total: u64,
    /// Orgs that have never consented nor been exempted (an org that consented and later
    /// needs re-auth is chased by the campaign, but no longer counts here).
    pub remaining: u64,
    /// Orgs by state.
    pub by_state: BTreeMap<String, u64>,
    /// (day, orgs remaining at the end of that day), from the wave's start to today or its
    /// deadline, whichever is later.
    pub series: Vec<(NaiveDate, u64)>,
}

/// A connection close to Salesforce's idle timeout.
#[derive(Debug, Clone, Serialize)]
pub struct Expiry {
    pub org_id: OrgId,
    pub org_name: String,
    pub status: String,
    pub last_exchange_at: DateTime<Utc>,
    pub idle_expires_at: DateTime<Utc>,
}

/// Everything on the overview.
#[derive(Debug, Clone)]
pub struct Overview {
    pub total: u64,
    pub by_state: Vec<(OrgState, u64)>,
    pub funnel: Vec<Stage>,
    pub waves: Vec<WaveProgress>,
    pub connections_by_status: Vec<(String, u64)>,
    pub soonest_expiries: Vec<Expiry>,
    /// Refresh failures in the last seven days, by error class.
    pub failures_by_class: Vec<(String, u64)>,
    pub open_alerts: Vec<alert::Model>,
    pub open_alert_count: u64,
}

/// Builds the overview at `now`; `idle_timeout` is Salesforce's (for "expires in").
pub async fn overview<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    idle_timeout: std::time::Duration,
) -> Result<Overview> {
    // One pass over the (wave_id, state) index gives the totals and every wave's progress.
    let per_state = per_wave_and_state(db).await?;
    let mut by_state_raw: HashMap<OrgState, i64> = HashMap::new();
    for (_, st, n) in &per_state {
        *by_state_raw.entry(*st).or_default() += n;
    }
    let counts: HashMap<OrgState, u64> = by_state_raw
        .into_iter()
        .map(|(s, n)| (s, u64::try_from(n).unwrap_or(0)))
        .collect();
    let by_state: Vec<(OrgState, u64)> = OrgState::ALL
        .into_iter()
        .map(|s| (s, counts.get(&s).copied().unwrap_or(0)))
        .collect();
    let total = by_state.iter().map(|(_, n)| n).sum();

    // Orgs waiting on a person count where they will resume.
    let paused: Vec<(Option<OrgState>, i64)> = org::Entity::find()
        .select_only()
        .column(org::Column::ResumeState)
        .column_as(count_all(), "n")
        .filter(org::Column::State.eq(OrgState::NeedsAttention))
        .group_by(org::Column::ResumeState)
        .into_tuple()
        .all(db)
        .await?;
    let mut on_line: HashMap<OrgState, u64> = counts.clone();
    for (resume, n) in paused {
        let s = resume.unwrap_or(OrgState::Pending);
        *on_line.entry(s).or_default() += u64::try_from(n).unwrap_or(0);
    }
    // An org that needs re-auth had been verified.
    *on_line.entry(OrgState::Verified).or_default() +=
        counts.get(&OrgState::NeedsReauth).copied().unwrap_or(0);
    let line = [
        (OrgState::Pending, "pending"),
        (OrgState::Notified, "notified"),
        (OrgState::Opened, "opened"),
        (OrgState::Consented, "consented"),
        (OrgState::Verified, "verified"),
        (OrgState::LegacyRetired, "retired"),
    ];
    let funnel = line
        .iter()
        .enumerate()
        .map(|(i, (_, label))| Stage {
            label,
            count: line[i..]
                .iter()
                .map(|(s, _)| on_line.get(s).copied().unwrap_or(0))
                .sum(),
        })
        .collect();

    let waves = progress_of(db, now, &per_state).await?;

    let conn_raw: Vec<(String, i64)> = connection::Entity::find()
        .select_only()
        .column(connection::Column::Status)
        .column_as(count_all(), "n")
        .group_by(connection::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    let mut connections_by_status: Vec<(String, u64)> = conn_raw
        .into_iter()
        .map(|(s, n)| (s, u64::try_from(n).unwrap_or(0)))
        .collect();
    connections_by_status.sort();

    let idle = Duration::from_std(idle_timeout).unwrap_or(Duration::days(30));
    let mut soonest: Vec<connection::Model> = Vec::new();
    for status in ["active", "refreshing"] {
        soonest.extend(
            connection::Entity::find()
                .filter(connection::Column::Status.eq(status))
                .order_by_asc(connection::Column::LastExchangeAt)
                .limit(10)
                .all(db)
                .await?,
        );
    }
    soonest.sort_by_key(|c| c.last_exchange_at);
    soonest.truncate(10);
    let names: HashMap<OrgId, String> = org::Entity::find()
        .filter(org::Column::Id.is_in(soonest.iter().map(|c| c.org_id.clone())))
        .select_only()
        .column(org::Column::Id)
        .column(org::Column::Name)
        .into_tuple::<(OrgId, String)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let soonest_expiries = soonest
        .into_iter()
        .map(|c| Expiry {
            org_name: names.get(&c.org_id).cloned().unwrap_or_default(),
            org_id: c.org_id,
            status: c.status.to_string(),
            last_exchange_at: c.last_exchange_at,
            idle_expires_at: c.last_exchange_at + idle,
        })
        .collect();

    let fail_raw: Vec<(Option<String>, i64)> = connection::Entity::find()
        .select_only()
        .column(connection::Column::LastErrorClass)
        .column_as(count_all(), "n")
        .filter(connection::Column::LastErrorAt.gte(now - Duration::days(7)))
        .group_by(connection::Column::LastErrorClass)
        .into_tuple()
        .all(db)
        .await?;
    let mut failures_by_class: Vec<(String, u64)> = fail_raw
        .into_iter()
        .map(|(c, n)| {
            (
                c.unwrap_or_else(|| "unclassified".into()),
                u64::try_from(n).unwrap_or(0),
            )
        })
        .collect();
    failures_by_class.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));

    let open = alert::Entity::find().filter(alert::Column::ResolvedAt.is_null());
    let open_alert_count = open.clone().count(db).await?;
    let open_alerts = open
        .order_by_desc(alert::Column::CreatedAt)
        .limit(10)
        .all(db)
        .await?;

    Ok(Overview {
        total,
        by_state,
        funnel,
        waves,
        connections_by_status,
        soonest_expiries,
        failures_by_class,
        open_alerts,
        open_alert_count,
    })
}

#[derive(Debug, FromQueryResult)]
struct DayCount {
    wave_id: Option<i64>,
    day: String,
    n: i64,
}

/// `COUNT(*)`: unlike `COUNT(id)` it is answered from an index alone (on SQLite the text
/// primary key is not part of secondary indexes, so `COUNT(id)` reads every row).
fn count_all() -> sea_orm::sea_query::Expr {
    sea_orm::sea_query::Expr::cust("COUNT(*)")
}

/// Orgs per (wave, state), from the `(wave_id, state)` index.
async fn per_wave_and_state<C: ConnectionTrait>(
    db: &C,
) -> Result<Vec<(Option<i64>, OrgState, i64)>> {
    Ok(org::Entity::find()
        .select_only()
        .column(org::Column::WaveId)
        .column(org::Column::State)
        .column_as(count_all(), "n")
        .group_by(org::Column::WaveId)
        .group_by(org::Column::State)
        .into_tuple()
        .all(db)
        .await?)
}

/// Per-wave totals by state and the burn-down series.
pub async fn wave_progress<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
) -> Result<Vec<WaveProgress>> {
    let per_state = per_wave_and_state(db).await?;
    progress_of(db, now, &per_state).await
}

async fn progress_of<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    per_state: &[(Option<i64>, OrgState, i64)],
) -> Result<Vec<WaveProgress>> {
    let waves = wave::Entity::find()
        .order_by_asc(wave::Column::Deadline)
        .order_by_asc(wave::Column::Name)
        .all(db)
        .await?;
    // Completions per wave and day, computed by the database over (wave_id, completed_at).
    let backend = db.get_database_backend();
    let day = match backend {
        DbBackend::Postgres => "CAST(CAST(completed_at AT TIME ZONE 'UTC' AS date) AS text)",
        _ => "substr(completed_at, 1, 10)",
    };
    let sql = format!(
        "SELECT wave_id, {day} AS day, COUNT(*) AS n FROM orgs \
         WHERE completed_at IS NOT NULL AND wave_id IS NOT NULL GROUP BY wave_id, {day}"
    );
    let days = DayCount::find_by_statement(Statement::from_string(backend, sql))
        .all(db)
        .await?;
    let mut completions: HashMap<i64, BTreeMap<NaiveDate, u64>> = HashMap::new();
    for d in days {
        let (Some(w), Ok(date)) = (
            d.wave_id,
            NaiveDate::parse_from_str(d.day.get(..10).unwrap_or(""), "%Y-%m-%d"),
        ) else {
            continue;
        };
        *completions.entry(w).or_default().entry(date).or_default() +=
            u64::try_from(d.n).unwrap_or(0);
    }
    let today = now.date_naive();
    Ok(waves
        .into_iter()
        .map(|w| {
            let mut by_state = BTreeMap::new();
            let mut total = 0;
            for (wid, s, n) in per_state {
                if *wid == Some(w.id) {
                    let n = u64::try_from(*n).unwrap_or(0);
                    total += n;
                    by_state.insert(s.as_str().to_owned(), n);
                }
            }
            let done = completions.remove(&w.id).unwrap_or_default();
            let remaining = total.saturating_sub(done.values().sum());
            let series = burn_down(&w, total, &done, today);
            WaveProgress {
                name: w.name,
                starts_at: w.starts_at,
                deadline: w.deadline,
                paused: w.paused,
                total,
                remaining,
                by_state,
                series,
            }
        })
        .collect())
}

/// Remaining orgs at the end of each day from the wave's start (or its first completion) to
/// today, capped at 400 points.
fn burn_down(
    w: &wave::Model,
    total: u64,
    done: &BTreeMap<NaiveDate, u64>,
    today: NaiveDate,
) -> Vec<(NaiveDate, u64)> {
    let first_done = done.keys().next().copied();
    let start = match (w.starts_at.map(|s| s.date_naive()), first_done) {
        (Some(s), Some(f)) => s.min(f),
        (Some(s), None) => s,
        (None, Some(f)) => f,
        (None, None) => return Vec::new(),
    };
    if start > today {
        return vec![(start, total)];
    }
    let days = (today - start).num_days().clamp(0, 400);
    let mut remaining = total;
    let mut out = Vec::with_capacity(usize::try_from(days).unwrap_or(0) + 1);
    for i in 0..=days {
        let d = start + Duration::days(i);
        remaining = remaining.saturating_sub(done.get(&d).copied().unwrap_or(0));
        out.push((d, remaining));
    }
    out
}
