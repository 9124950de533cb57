//! A wave's notice schedule: `announce@start,remind@-14d,remind@-7d,remind@-2d,final@deadline,escalate@+1d`.
//!
//! Each step is `KIND@WHEN`. `KIND` is `announce`, `remind`, `final` or `escalate` (escalations go
//! to the org's customer-success manager, not the customer), or `incident` (an incident's
//! emergency wave: what happened and what to do, see `incident.steps`). `WHEN` is `start`, `deadline`,
//! `start+DUR`, `start-DUR`, `deadline+DUR`, `deadline-DUR`, or a bare `+DUR`/`-DUR` relative to the
//! deadline. Durations are human (`14d`, `90s`), so a whole campaign can run in a minute.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// What a step sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepKind {
    Announce,
    Remind,
    Final,
    Escalate,
    /// The incident's message (an emergency wave's steps).
    Incident,
}

impl From<StepKind> for crate::entity::notice::NoticeKind {
    fn from(k: StepKind) -> Self {
        match k {
            StepKind::Announce => Self::Announce,
            StepKind::Remind => Self::Remind,
            StepKind::Final => Self::Final,
            StepKind::Escalate => Self::Escalate,
            StepKind::Incident => Self::Incident,
        }
    }
}

impl StepKind {
    /// The notice kind it creates.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Announce => "announce",
            Self::Remind => "remind",
            Self::Final => "final",
            Self::Escalate => "escalate",
            Self::Incident => "incident",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "announce" => Self::Announce,
            "remind" => Self::Remind,
            "final" => Self::Final,
            "escalate" => Self::Escalate,
            "incident" => Self::Incident,
            _ => return None,
        })
    }
}

/// What a step's time is measured from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    Start,
    Deadline,
}

/// One step of a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub kind: StepKind,
    pub anchor: Anchor,
    /// Signed offset from the anchor, in seconds.
    pub offset_secs: i64,
}

impl Step {
    /// When the step is due for a wave.
    pub fn due(&self, start: DateTime<Utc>, deadline: DateTime<Utc>) -> DateTime<Utc> {
        let base = match self.anchor {
            Anchor::Start => start,
            Anchor::Deadline => deadline,
        };
        base + chrono::Duration::seconds(self.offset_secs)
    }
}

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Steps(pub Vec<Step>);

/// Why a schedule does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("step {index} (`{text}`): {message}")]
pub struct StepsError {
    pub index: usize,
    pub text: String,
    pub message: String,
}

impl Steps {
    /// Parses a comma-separated schedule.
    pub fn parse(s: &str) -> Result<Self, StepsError> {
        let mut out = Vec::new();
        for (i, raw) in s.split(',').map(str::trim).enumerate() {
            let err = |message: &str| StepsError {
                index: i + 1,
                text: raw.to_owned(),
                message: message.to_owned(),
            };
            let (kind, when) = raw
                .split_once('@')
                .ok_or_else(|| err("expected KIND@WHEN, e.g. remind@-7d"))?;
            let kind = StepKind::parse(kind.trim())
                .ok_or_else(|| err("KIND is announce, remind, final, escalate or incident"))?;
            let when = when.trim();
            let (anchor, rest) = if let Some(r) = when.strip_prefix("start") {
                (Anchor::Start, r)
            } else if let Some(r) = when.strip_prefix("deadline") {
                (Anchor::Deadline, r)
            } else {
                (Anchor::Deadline, when)
            };
            let offset_secs = match rest {
                "" => 0,
                r => {
                    let (sign, dur) = match r.as_bytes()[0] {
                        b'+' => (1, &r[1..]),
                        b'-' => (-1, &r[1..]),
                        _ => {
                            return Err(err(
                                "WHEN is start, deadline, or an offset such as -7d, +1d, start+2d",
                            ));
                        }
                    };
                    let d: Duration = humantime::parse_duration(dur.trim())
                        .map_err(|e| err(&format!("bad duration: {e}")))?;
                    sign * i64::try_from(d.as_secs()).map_err(|_| err("offset too large"))?
                }
            };
            out.push(Step {
                kind,
                anchor,
                offset_secs,
            });
        }
        if out.is_empty() {
            return Err(StepsError {
                index: 0,
                text: s.to_owned(),
                message: "no steps".into(),
            });
        }
        Ok(Self(out))
    }
}

impl fmt::Display for Steps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            // As the schedule is written (`remind@-14d`): an offset from the deadline needs no
            // anchor, and durations take the configuration's spelling (`14d`, not `14days`).
            let kind = s.kind.as_str();
            match (s.anchor, s.offset_secs) {
                (Anchor::Start, 0) => write!(f, "{kind}@start")?,
                (Anchor::Deadline, 0) => write!(f, "{kind}@deadline")?,
                (anchor, n) => {
                    let anchor = if anchor == Anchor::Start { "start" } else { "" };
                    let sign = if n < 0 { '-' } else { '+' };
                    let d = crate::config::format_duration(Duration::from_secs(n.unsigned_abs()));
                    write!(f, "{kind}@{anchor}{sign}{d}")?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_parses() {
        let s = Steps::parse(crate::registry::DEFAULT_STEPS).unwrap();
        assert_eq!(s.0.len(), 6);
        assert_eq!(
            s.0[0],
            Step {
                kind: StepKind::Announce,
                anchor: Anchor::Start,
                offset_secs: 0
            }
        );
        assert_eq!(
            s.0[1],
            Step {
                kind: StepKind::Remind,
                anchor: Anchor::Deadline,
                offset_secs: -14 * 86_400
            }
        );
        assert_eq!(
            s.0[5],
            Step {
                kind: StepKind::Escalate,
                anchor: Anchor::Deadline,
                offset_secs: 86_400
            }
        );
    }

    #[test]
    fn seconds_make_a_campaign_run_in_a_minute() {
        let s =
            Steps::parse("announce@start,remind@start+10s,final@deadline,escalate@+5s").unwrap();
        let start = Utc::now();
        let deadline = start + chrono::Duration::seconds(30);
        assert_eq!(
            s.0[1].due(start, deadline),
            start + chrono::Duration::seconds(10)
        );
        assert_eq!(
            s.0[3].due(start, deadline),
            deadline + chrono::Duration::seconds(5)
        );
        assert_eq!(Steps::parse(&s.to_string()).unwrap(), s, "round trip");
    }

    #[test]
    fn a_schedule_prints_the_way_it_is_written() {
        let s = Steps::parse(crate::registry::DEFAULT_STEPS).unwrap();
        assert_eq!(s.to_string(), crate::registry::DEFAULT_STEPS);
        let s = Steps::parse("remind@deadline-14days,remind@start+1h 30m").unwrap();
        assert_eq!(s.to_string(), "remind@-14d,remind@start+1h30m");
    }

    #[test]
    fn bad_steps_are_named() {
        let e = Steps::parse("announce@start,nag@-1d").unwrap_err();
        assert_eq!((e.index, e.text.as_str()), (2, "nag@-1d"));
        assert!(Steps::parse("remind@-7x").is_err());
        assert!(Steps::parse("remind").is_err());
        assert!(Steps::parse("remind@tomorrow").is_err());
    }
}
