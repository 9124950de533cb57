//! The report's period: `--from` / `--to` as RFC 3339 dates or date-times, the last 30 days by
//! default.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::error::{Error, Result};

/// `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Period {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// Which end of the period a value is: a bare date starts its day as `from` and includes its
/// day as `to`.
#[derive(Clone, Copy)]
enum End {
    From,
    To,
}

fn bound(name: &str, s: &str, end: End) -> Result<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") else {
        return Err(Error::Invalid(format!(
            "{name} `{s}` is not a date (2026-11-01) or an RFC 3339 date-time (2026-11-01T09:00:00Z)"
        )));
    };
    let day = match end {
        End::From => Some(d),
        End::To => d.succ_opt(),
    };
    day.and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| Error::Invalid(format!("{name} `{s}` is out of range")))
}

impl Period {
    /// The last 30 days up to `now`.
    pub fn last_30_days(now: DateTime<Utc>) -> Self {
        Self {
            from: now - chrono::Duration::days(30),
            to: now,
        }
    }

    /// From the caller's `from` and `to` (either may be absent: `to` defaults to `now`, `from`
    /// to 30 days before `to`). A bad value or `from` after `to` is an [`Error::Invalid`] that
    /// names it.
    pub fn parse(from: Option<&str>, to: Option<&str>, now: DateTime<Utc>) -> Result<Self> {
        let to = match to.filter(|s| !s.trim().is_empty()) {
            Some(s) => bound("--to", s, End::To)?,
            None => now,
        };
        let from = match from.filter(|s| !s.trim().is_empty()) {
            Some(s) => bound("--from", s, End::From)?,
            None => to - chrono::Duration::days(30),
        };
        if from >= to {
            return Err(Error::Invalid(format!(
                "--from ({}) must be before --to ({})",
                from.to_rfc3339(),
                to.to_rfc3339()
            )));
        }
        Ok(Self { from, to })
    }

    /// Whether `t` falls in `[from, to)`.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from <= t && t < self.to
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-02T12:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_bare_to_date_includes_its_whole_day_and_from_defaults_to_30_days_before() {
        let p = Period::parse(None, Some("2026-11-30"), now()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.to.to_rfc3339(), "2026-12-01T00:00:00+00:00");
        assert_eq!(p.from.to_rfc3339(), "2026-11-01T00:00:00+00:00");
    }

    #[test]
    fn no_bounds_is_the_last_30_days() {
        assert_eq!(
            Period::parse(None, None, now()).unwrap_or_else(|e| panic!("{e}")),
            Period::last_30_days(now())
        );
    }

    #[test]
    fn a_bad_value_or_from_after_to_is_a_clear_error() {
        let e = Period::parse(Some("yesterday"), None, now())
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some(
                "--from `yesterday` is not a date (2026-11-01) or an RFC 3339 date-time (2026-11-01T09:00:00Z)"
            )
        );
        let e = Period::parse(Some("2026-12-01"), Some("2026-11-01"), now())
            .err()
            .map(|e| e.to_string());
        assert!(
            e.as_deref().is_some_and(
                |e| e.starts_with("--from (2026-12-01T00:00:00+00:00) must be before --to")
            ),
            "{e:?}"
        );
    }
}
