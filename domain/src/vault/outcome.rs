//! What a refresh is asked for and what it answers: the protocol's timings, why a refresh
//! happens, and why a token could not be had.

use std::time::Duration;

use serde::Serialize;

use super::{AccessToken, ErrorClass};
use crate::types::OrgId;

/// Timings of the protocol. The defaults are production's; tests shorten them.
#[derive(Debug, Clone, Copy)]
pub struct VaultOptions {
    /// How long a lease lasts between extensions. The exchange's time limit is well inside it.
    pub lease: Duration,
    /// Pause before the one recovery probe after an ambiguous answer.
    pub probe_delay: Duration,
    /// How long a caller waits for another process's refresh before answering "retry shortly".
    pub max_wait: Duration,
    /// How often every process looks for cache invalidations written by the others (a cut-over
    /// reaches every process within about this long).
    pub invalidation_poll: Duration,
    /// The heartbeat's path before its claims were grouped: each refresh re-reads its row and
    /// claims it with a statement of its own. Kept as the benchmark's baseline, measured in the
    /// same run as the grouped path; off by default. (It was on for a day while the kill test's
    /// calm-phase reuse was blamed on grouped claims; the same reuse came with per-row claims
    /// too: answers slower than the test's 2 s `http_timeout` on an overloaded machine, then the
    /// probe — see docs/vault.md.)
    pub per_row_claims: bool,
    /// Each persist in a transaction of its own, as before persists were grouped
    /// (`persist_queue`): the benchmark's baseline for the grouped path; off by default.
    pub single_persists: bool,
}

impl Default for VaultOptions {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(60),
            probe_delay: Duration::from_secs(2),
            max_wait: Duration::from_secs(10),
            invalidation_poll: Duration::from_secs(1),
            per_row_claims: false,
            single_persists: false,
        }
    }
}

/// Why a token could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum VaultError {
    #[error("no connection for org {org_id}")]
    NoConnection { org_id: OrgId },
    #[error("org {org_id} must consent again: {reason}")]
    NeedsReauth { org_id: OrgId, reason: String },
    /// Another refresh of this connection is in progress (or has just finished).
    #[error("the connection of org {org_id} is being refreshed; retry shortly")]
    Busy { org_id: OrgId },
    /// A legacy token imported but not handed over yet (`reauth legacy activate`): the partner's
    /// services still refresh it, so reauth must not.
    #[error(
        "the legacy connection of org {org_id} is held: activate it when your services switch to the token API"
    )]
    Held { org_id: OrgId },
    /// The connection's last answer named another org or user: its token is kept, but nothing
    /// is served until a person has looked.
    #[error("the connection of org {org_id} is held for review: {reason}")]
    Quarantined { org_id: OrgId, reason: String },
    #[error(
        "Salesforce could not refresh the token for org {org_id} right now ({class}): {detail}"
    )]
    Unavailable {
        org_id: OrgId,
        class: ErrorClass,
        detail: String,
    },
}

/// What a refresh returns: a token, or why not (database and internal faults are the outer
/// `Result`).
pub type Answer = std::result::Result<AccessToken, VaultError>;

/// Why a refresh was asked for (recorded in events and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Heartbeat,
    /// The token API needed a fresh access token.
    Demand,
    /// A partner reported a 401.
    Forced,
    /// A lease expired while `refreshing`.
    Recovery,
    /// A `verifying` connection needed a fresh access token for its identity check.
    Verification,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Heartbeat => "heartbeat",
            Self::Demand => "demand",
            Self::Forced => "forced",
            Self::Recovery => "recovery",
            Self::Verification => "verification",
        }
    }
}
