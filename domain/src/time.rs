//! Time: a clock that tests can move, and quiet hours.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, NaiveTime, Utc};

/// Where "now" comes from. Production uses the system clock; tests advance a manual one.
#[derive(Clone, Debug)]
pub struct Clock {
    /// Milliseconds added to the system time.
    offset_ms: Arc<AtomicI64>,
    /// A test's clock: it is the one clock every party to a lease uses (production leases are
    /// judged by the database's clock instead; see `crate::vault::lease`).
    injected: bool,
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self {
            offset_ms: Arc::new(AtomicI64::new(0)),
            injected: false,
        }
    }

    /// A clock a test moves by hand. Lease expiry follows it (not the database's clock), so a
    /// test can let a lease run out by advancing it.
    pub fn injected() -> Self {
        Self {
            offset_ms: Arc::new(AtomicI64::new(0)),
            injected: true,
        }
    }

    /// Whether this is a test's clock.
    pub fn is_injected(&self) -> bool {
        self.injected
    }

    /// Now, plus any offset a test added.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, by: std::time::Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

/// A daily window, in a contact's local time, in which no mail is sent (e.g. `20:00-08:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl QuietHours {
    /// Parses `HH:MM-HH:MM`; the window may wrap past midnight.
    pub fn parse(s: &str) -> Option<Self> {
        let (a, b) = s.trim().split_once('-')?;
        let start = NaiveTime::parse_from_str(a.trim(), "%H:%M").ok()?;
        let end = NaiveTime::parse_from_str(b.trim(), "%H:%M").ok()?;
        (start != end).then_some(Self { start, end })
    }

    /// Whether a local time falls inside the window.
    pub fn contains(&self, t: NaiveTime) -> bool {
        if self.start < self.end {
            t >= self.start && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_hours_wrap_past_midnight() {
        let q = QuietHours::parse("20:00-08:00").unwrap();
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        assert!(q.contains(t(23, 0)) && q.contains(t(7, 59)) && q.contains(t(20, 0)));
        assert!(!q.contains(t(8, 0)) && !q.contains(t(12, 0)));
        assert!(QuietHours::parse("25:00-08:00").is_none());
        assert!(QuietHours::parse("08:00").is_none());
    }

    #[test]
    fn advancing_a_clock_moves_its_clones() {
        let c = Clock::system();
        let d = c.clone();
        let before = d.now();
        c.advance(std::time::Duration::from_secs(86_400));
        assert!(d.now() - before >= chrono::Duration::hours(23));
    }
}
