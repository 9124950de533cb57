//! `[incident]`: the breaker that pauses the heartbeat and notices when too many exchanges come
//! back revoked or `invalid_client`, and the emergency wave an incident starts (its schedule and
//! deadline).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;

/// The emergency wave's default schedule: at once, then after a day and after three, then the
/// org's customer-success manager is told.
pub const DEFAULT_STEPS: &str =
    "incident@start,incident@start+1d,incident@start+3d,escalate@start+4d";

/// `[incident]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IncidentConfig {
    /// `20%`: the breaker trips when more than this share of an hour's exchanges come back
    /// revoked or `invalid_client`…
    pub breaker: String,
    /// …and the hour has at least this many exchanges (a handful of failures is not a fault of
    /// ours).
    pub breaker_floor: u32,
    /// The emergency wave's schedule: `incident` steps (the incident's own wording) and
    /// `escalate` steps (to the CSM), each `KIND@start+DUR` like a wave's `--steps`.
    pub steps: String,
    /// The emergency wave's deadline, from the incident's start.
    #[serde(with = "duration")]
    pub deadline: Duration,
}

impl Default for IncidentConfig {
    fn default() -> Self {
        Self {
            breaker: "20%".into(),
            breaker_floor: 20,
            steps: DEFAULT_STEPS.into(),
            deadline: Duration::from_secs(7 * 86_400),
        }
    }
}

impl IncidentConfig {
    /// `incident.breaker` as a fraction (`20%` → 0.2), if it is a percentage above 0 and at
    /// most 100.
    pub fn breaker_fraction(&self) -> Option<f64> {
        let n: f64 = self.breaker.trim().strip_suffix('%')?.trim().parse().ok()?;
        (n.is_finite() && n > 0.0 && n <= 100.0).then_some(n / 100.0)
    }
}

/// Checks `[incident]`, naming each bad key.
pub(super) fn validate(i: &IncidentConfig, bad: &mut impl FnMut(&str, String)) {
    use crate::campaign::StepKind;
    if i.breaker_fraction().is_none() {
        bad(
            "incident.breaker",
            format!(
                "`{}` must be a percentage above 0% and at most 100%, such as `20%`",
                i.breaker
            ),
        );
    }
    if i.breaker_floor == 0 {
        bad("incident.breaker_floor", "must be at least 1".into());
    }
    if i.deadline.is_zero() {
        bad("incident.deadline", "must be more than zero".into());
    }
    match crate::campaign::Steps::parse(&i.steps) {
        Err(e) => bad("incident.steps", e.to_string()),
        Ok(steps) => {
            if let Some(s) = steps
                .0
                .iter()
                .find(|s| !matches!(s.kind, StepKind::Incident | StepKind::Escalate))
            {
                bad(
                    "incident.steps",
                    format!(
                        "`{}` steps use a campaign's wording: the emergency wave sends only `incident` steps and `escalate` steps (to the CSM)",
                        s.kind.as_str()
                    ),
                );
            }
            if !steps.0.iter().any(|s| s.kind == StepKind::Incident) {
                bad(
                    "incident.steps",
                    "needs at least one `incident` step, such as `incident@start`".into(),
                );
            }
        }
    }
}
