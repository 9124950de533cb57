//! `usage.unusual`: per org, the last complete hour's token-API answers plus exchanges against
//! the same hour of the previous 7 days. Unusual: above `monitor.volume_factor` times their
//! median, or any use in an hour of day the org never used in a week it otherwise used — in both
//! cases only at `monitor.volume_floor` or more.

use std::collections::BTreeMap;

use chrono::{DateTime, DurationRound as _, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::alerts::{self, NewAlert, Raised, Severity};
use crate::config::Config;
use crate::entity::{exchange, token_usage};
use crate::error::Result;
use crate::types::OrgId;

/// The verdict on one org's hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Usual,
    /// Above the factor times the median.
    AboveMedian,
    /// In an hour of day the org never used in an otherwise active week.
    NewHour,
}

/// `count` this hour, `same_hour` the same hour on each of the 7 previous days, `week` the org's
/// whole previous week.
pub fn judge(count: i64, same_hour: &[i64], week: i64, factor: f64, floor: i64) -> Verdict {
    if count < floor {
        return Verdict::Usual;
    }
    let mut v = same_hour.to_vec();
    v.sort_unstable();
    let median = if v.is_empty() {
        0.0
    } else if v.len() % 2 == 1 {
        v[v.len() / 2] as f64
    } else {
        (v[v.len() / 2 - 1] + v[v.len() / 2]) as f64 / 2.0
    };
    if median > 0.0 {
        if count as f64 > factor * median {
            Verdict::AboveMedian
        } else {
            Verdict::Usual
        }
    } else if week > 0 {
        Verdict::NewHour
    } else {
        // A new org's first week: nothing to compare with.
        Verdict::Usual
    }
}

/// Judges the last complete hour of every org with any use; returns the alerts newly raised.
pub async fn check<C: ConnectionTrait>(db: &C, config: &Config, now: DateTime<Utc>) -> Result<u32> {
    let hour = now
        .duration_trunc(chrono::Duration::hours(1))
        .unwrap_or(now)
        - chrono::Duration::hours(1);
    let from = hour - chrono::Duration::days(7);
    let mut per_hour: BTreeMap<(OrgId, DateTime<Utc>), i64> = BTreeMap::new();
    for u in token_usage::Entity::find()
        .filter(token_usage::Column::Hour.gte(from))
        .filter(token_usage::Column::Hour.lt(hour + chrono::Duration::hours(1)))
        .all(db)
        .await?
    {
        *per_hour.entry((u.org_id, u.hour)).or_default() += u.answers;
    }
    for e in exchange::Entity::find()
        .filter(exchange::Column::At.gte(from))
        .filter(exchange::Column::At.lt(hour + chrono::Duration::hours(1)))
        .all(db)
        .await?
    {
        let h =
            e.at.duration_trunc(chrono::Duration::hours(1))
                .unwrap_or(e.at);
        *per_hour.entry((e.org_id, h)).or_default() += 1;
    }
    let mut orgs: BTreeMap<OrgId, (i64, Vec<i64>, i64)> = BTreeMap::new();
    for ((org, h), n) in &per_hour {
        let e = orgs.entry(org.clone()).or_insert((0, vec![0; 7], 0));
        if *h == hour {
            e.0 += n;
        } else {
            e.2 += n;
            let days = (hour - *h).num_hours();
            if days % 24 == 0 && (1..=7).contains(&(days / 24)) {
                e.1[(days / 24 - 1) as usize] += n;
            }
        }
    }
    let mut raised = 0;
    for (org, (count, same, week)) in orgs {
        let key = alerts::dedupe_key("usage.unusual", Some(&org), None);
        let verdict = judge(
            count,
            &same,
            week,
            config.monitor.volume_factor,
            config.monitor.volume_floor,
        );
        if verdict == Verdict::Usual {
            alerts::resolve_key(db, &key, now).await?;
            continue;
        }
        let why = match verdict {
            Verdict::AboveMedian => format!(
                "more than {}× the median of the same hour over the previous 7 days ({same:?})",
                config.monitor.volume_factor
            ),
            _ => "in an hour of day this org did not use in the previous 7 days".to_owned(),
        };
        let r = alerts::raise_keyed(
            db,
            NewAlert {
                kind: "usage.unusual",
                severity: Severity::Warning,
                org_id: Some(&org),
                subject: None,
                message: format!(
                    "{count} access tokens served and exchanges for this org in the hour from {}, {why}. If no job of ours explains it, check which API key asked (`reauth api-keys list`) and the org's LoginHistory.",
                    hour.format("%Y-%m-%d %H:00 UTC")
                ),
                details: serde_json::json!({ "hour": hour.to_rfc3339(), "count": count, "same_hour": same, "week": week }),
                affected_orgs: None,
            },
            now,
        )
        .await?;
        raised += u32::from(matches!(r, Raised::New(_)));
    }
    Ok(raised)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_is_judged_against_the_median_with_a_floor() {
        assert_eq!(
            judge(60, &[10, 10, 12, 9, 11, 10, 10], 500, 5.0, 20),
            Verdict::AboveMedian
        );
        assert_eq!(
            judge(45, &[10, 10, 12, 9, 11, 10, 10], 500, 5.0, 20),
            Verdict::Usual
        );
        assert_eq!(
            judge(15, &[1, 1, 1, 1, 1, 1, 1], 50, 5.0, 20),
            Verdict::Usual,
            "below the floor"
        );
        assert_eq!(judge(30, &[0; 7], 900, 5.0, 20), Verdict::NewHour);
        assert_eq!(judge(30, &[0; 7], 0, 5.0, 20), Verdict::Usual, "a new org");
    }
}
