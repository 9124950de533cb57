//! The scheduler: creates the notice rows that are due, exactly once per (org, wave, step, round).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::Serialize;

use super::{StepKind, Steps};
use crate::entity::notice::NoticeStatus;
use crate::entity::{notice, org, wave};
use crate::error::Result;
use crate::registry::state::OrgState;
use crate::time::QuietHours;
use chrono::TimeZone as _;

/// What one scheduler tick did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct ScheduleReport {
    pub created: u64,
    /// Steps that came due while an org joined late, passed over so it gets one message, not many.
    pub skipped: u64,
}

/// `org|w<wave>|s<step index>:<kind>|r<round>`.
fn dedupe_key(org: &str, wave: i64, index: usize, kind: StepKind, round: i32) -> String {
    format!("{org}|w{wave}|s{index}:{}|r{round}", kind.as_str())
}

/// When a notice due `now` may go out: `now`, or the end of the quiet hours in the recipient's
/// time zone (UTC when unknown).
pub fn outside_quiet_hours(
    now: DateTime<Utc>,
    tz: Option<&str>,
    quiet: Option<QuietHours>,
) -> DateTime<Utc> {
    let Some(q) = quiet else { return now };
    let tz: chrono_tz::Tz = tz.and_then(|t| t.parse().ok()).unwrap_or(chrono_tz::UTC);
    let local = now.with_timezone(&tz);
    if !q.contains(local.time()) {
        return now;
    }
    let mut day = local.date_naive();
    if local.time() >= q.end {
        day = day.succ_opt().unwrap_or(day);
    }
    tz.from_local_datetime(&day.and_time(q.end))
        .earliest()
        .map_or(now, |t| t.with_timezone(&Utc))
}

/// Creates due notices for every running (not paused) wave; `quiet` is `campaign.quiet_hours`.
pub async fn schedule<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    quiet: Option<QuietHours>,
) -> Result<ScheduleReport> {
    let mut report = ScheduleReport::default();
    let waves = wave::Entity::find()
        .filter(wave::Column::Paused.eq(false))
        .all(db)
        .await?;
    for w in waves {
        let (Some(start), Some(deadline)) = (w.starts_at, w.deadline) else {
            continue;
        };
        if start > now {
            continue;
        }
        let Ok(steps) = Steps::parse(&w.steps) else {
            tracing::warn!(wave = %w.name, "the wave's schedule does not parse; skipping it");
            continue;
        };
        let due: Vec<(usize, super::Step)> = steps
            .0
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, s)| s.due(start, deadline) <= now)
            .collect();
        if due.is_empty() {
            continue;
        }
        let orgs = org::Entity::find()
            .filter(org::Column::WaveId.eq(w.id))
            .filter(org::Column::NoticesPaused.eq(false))
            .filter(org::Column::State.is_in([
                OrgState::Pending,
                OrgState::Notified,
                OrgState::Opened,
                OrgState::NeedsReauth,
            ]))
            .all(db)
            .await?;
        for o in orgs {
            let prefix = format!("{}|w{}|", o.id, w.id);
            let round = format!("|r{}", o.campaign_round);
            let existing: HashSet<String> = notice::Entity::find()
                .filter(notice::Column::OrgId.eq(o.id.as_str()))
                .filter(notice::Column::WaveId.eq(w.id))
                .all(db)
                .await?
                .into_iter()
                .map(|n| n.dedupe_key)
                .filter(|k| k.starts_with(&prefix) && k.ends_with(&round))
                .collect();
            let pending: Vec<_> = due
                .iter()
                .filter(|(i, s)| {
                    !existing.contains(&dedupe_key(&o.id, w.id, *i, s.kind, o.campaign_round))
                })
                .collect();
            if pending.is_empty() {
                continue;
            }
            // An org that joins late gets the announcement and the latest step that is due, not a
            // burst of every reminder it missed.
            let late = existing.is_empty() && pending.len() > 1;
            let latest = pending
                .iter()
                .filter(|(_, s)| s.kind != StepKind::Announce)
                .map(|(i, _)| *i)
                .max();
            for (i, s) in &pending {
                let send = !late || s.kind == StepKind::Announce || Some(*i) == latest;
                let (recipient, contact_id, tz) = if s.kind == StepKind::Escalate {
                    (o.csm_email.clone(), None, None)
                } else {
                    let c = crate::campaign::notices::recipient(db, &o.id).await?;
                    (
                        c.as_ref().map(|c| c.email.clone()),
                        c.as_ref().map(|c| c.id),
                        c.and_then(|c| c.timezone),
                    )
                };
                let status = if !send || recipient.is_none() {
                    NoticeStatus::Skipped
                } else {
                    NoticeStatus::Pending
                };
                let row = notice::ActiveModel {
                    contact_id: Set(contact_id),
                    wave_id: Set(Some(w.id)),
                    step: Set(Some(format!("{i}:{}", s.kind.as_str()))),
                    occurrence: Set(o.campaign_round),
                    scheduled_at: Set(outside_quiet_hours(now, tz.as_deref(), quiet)),
                    status: Set(status),
                    recipient: Set(recipient),
                    last_error: Set(if status == NoticeStatus::Skipped {
                        Some("passed over (joined late or no recipient)".into())
                    } else {
                        None
                    }),
                    ..super::notices::row(
                        &o.id,
                        None,
                        s.kind.into(),
                        dedupe_key(&o.id, w.id, *i, s.kind, o.campaign_round),
                        now,
                    )
                };
                let n = super::notices::insert_once(db, row).await?;
                if status == NoticeStatus::Pending {
                    report.created += n;
                } else {
                    report.skipped += n;
                }
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_hours_hold_mail_until_morning_in_the_contacts_zone() {
        let q = QuietHours::parse("20:00-08:00");
        // 21:00 UTC is 22:00 in Paris (winter): held until 08:00 Paris = 07:00 UTC next day.
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 21, 0, 0).unwrap();
        assert_eq!(
            outside_quiet_hours(now, Some("Europe/Paris"), q),
            Utc.with_ymd_and_hms(2026, 11, 25, 7, 0, 0).unwrap()
        );
        // 03:00 Paris: held until 08:00 the same day.
        let early = Utc.with_ymd_and_hms(2026, 11, 24, 2, 0, 0).unwrap();
        assert_eq!(
            outside_quiet_hours(early, Some("Europe/Paris"), q),
            Utc.with_ymd_and_hms(2026, 11, 24, 7, 0, 0).unwrap()
        );
        // 21:00 UTC is 16:00 in New York: sent now. Off: always now.
        assert_eq!(outside_quiet_hours(now, Some("America/New_York"), q), now);
        assert_eq!(outside_quiet_hours(now, Some("Europe/Paris"), None), now);
    }
}
