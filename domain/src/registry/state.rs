//! The org state machine: the only place an org's state changes.
//!
//! ```text
//! pending → notified → opened → consented → verified → legacy_retired
//!    any → needs_attention (with a reason and an owner) → back to where it was
//!    any → exempt (→ reinstated to where it was)
//! verified/legacy_retired → needs_reauth (token died) → consented (re-consent) …
//! ```
//!
//! States move forward only: opening a link never moves an org back, and steps may be skipped.
//! Every change writes an `org.state_changed` event in the same transaction.

use chrono::{DateTime, Utc};
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::Set, QueryFilter, TransactionSession, TransactionTrait};
use serde::{Deserialize, Serialize};

use crate::entity::org;
use crate::error::{Error, Result};
use crate::events::{self, Actor};
use crate::types::OrgId;

/// Where an org stands in the rollout.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "snake_case")]
pub enum OrgState {
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "notified")]
    Notified,
    #[sea_orm(string_value = "opened")]
    Opened,
    #[sea_orm(string_value = "consented")]
    Consented,
    #[sea_orm(string_value = "verified")]
    Verified,
    #[sea_orm(string_value = "legacy_retired")]
    LegacyRetired,
    #[sea_orm(string_value = "needs_attention")]
    NeedsAttention,
    #[sea_orm(string_value = "needs_reauth")]
    NeedsReauth,
    #[sea_orm(string_value = "exempt")]
    Exempt,
}

impl OrgState {
    /// Every state, in display order.
    pub const ALL: [Self; 9] = [
        Self::Pending,
        Self::Notified,
        Self::Opened,
        Self::Consented,
        Self::Verified,
        Self::LegacyRetired,
        Self::NeedsAttention,
        Self::NeedsReauth,
        Self::Exempt,
    ];

    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Notified => "notified",
            Self::Opened => "opened",
            Self::Consented => "consented",
            Self::Verified => "verified",
            Self::LegacyRetired => "legacy_retired",
            Self::NeedsAttention => "needs_attention",
            Self::NeedsReauth => "needs_reauth",
            Self::Exempt => "exempt",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Position on the main line, for the states that are on it.
    fn rank(self) -> Option<u8> {
        match self {
            Self::Pending => Some(0),
            Self::Notified => Some(1),
            Self::Opened => Some(2),
            Self::Consented => Some(3),
            Self::Verified => Some(4),
            Self::LegacyRetired => Some(5),
            _ => None,
        }
    }

    /// Whether reaching this state takes the org off the rollout's "remaining" count.
    pub fn completes_rollout(self) -> bool {
        matches!(
            self,
            Self::Consented | Self::Verified | Self::LegacyRetired | Self::Exempt
        )
    }

    /// Whether the org still has to act (the campaign chases it).
    pub fn awaits_customer(self) -> bool {
        matches!(
            self,
            Self::Pending | Self::Notified | Self::Opened | Self::NeedsReauth
        )
    }
}

impl std::fmt::Display for OrgState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A requested change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Move forward on the main line (a no-op when the org is already there or beyond).
    Advance(OrgState),
    /// Something needs a person: `owner` is whose move it is (customer, partner, csm…).
    NeedsAttention { reason: String, owner: String },
    /// Leave `needs_attention` for the state the org was in.
    Resume,
    /// Take the org out of the rollout.
    Exempt { reason: String },
    /// Put an exempt org back where it was.
    Reinstate,
    /// The org's token died; it must consent again.
    NeedsReauth { reason: String },
}

/// What a change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Changed { from: OrgState, to: OrgState },
    Unchanged(OrgState),
}

/// The pure rule: given the current state (and where a paused org resumes), what the change
/// leads to. `Ok(None)` means "nothing to do".
pub fn plan(
    current: OrgState,
    resume: Option<OrgState>,
    change: &Change,
) -> Result<Option<(OrgState, Option<OrgState>)>> {
    use OrgState::*;
    let refuse = || {
        Err(Error::InvalidTransition {
            from: current,
            change: format!("{change:?}"),
        })
    };
    Ok(match change {
        Change::Advance(target) => {
            let Some(target_rank) = target.rank() else {
                return refuse();
            };
            match current.rank() {
                Some(r) if target_rank > r => Some((*target, None)),
                Some(_) => None,
                // A successful consent is stronger than a pause: it moves the org on.
                None if matches!(current, NeedsReauth | NeedsAttention | Exempt)
                    && *target >= Consented =>
                {
                    if *target == LegacyRetired && current == NeedsReauth {
                        return refuse();
                    }
                    Some((*target, None))
                }
                None => None,
            }
        }
        Change::NeedsAttention { .. } => match current {
            NeedsAttention => None,
            _ => Some((NeedsAttention, Some(current))),
        },
        Change::Resume => match current {
            NeedsAttention => Some((resume.unwrap_or(Pending), None)),
            _ => return refuse(),
        },
        Change::Exempt { .. } => match current {
            Exempt => None,
            _ => Some((Exempt, Some(current))),
        },
        Change::Reinstate => match current {
            Exempt => Some((resume.unwrap_or(Pending), None)),
            _ => return refuse(),
        },
        Change::NeedsReauth { .. } => match current {
            NeedsReauth => None,
            Consented | Verified | LegacyRetired => Some((NeedsReauth, None)),
            NeedsAttention if matches!(resume, Some(Consented | Verified | LegacyRetired)) => {
                Some((NeedsReauth, None))
            }
            _ => return refuse(),
        },
    })
}

// `OrgState` ordering follows the main line; only used by `plan`.
impl PartialOrd for OrgState {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.rank()?.cmp(&other.rank()?))
    }
}

/// Applies a change to one org inside one transaction, writing the event with it.
pub async fn apply<C: TransactionTrait + ConnectionTrait>(
    db: &C,
    org_id: &OrgId,
    change: Change,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Outcome> {
    let txn = crate::db::begin_write(db).await?;
    let org = crate::registry::find_org(&txn, org_id).await?;
    let Some((to, resume)) = plan(org.state, org.resume_state, &change)? else {
        txn.commit().await?;
        return Ok(Outcome::Unchanged(org.state));
    };
    let (reason, owner) = match &change {
        Change::NeedsAttention { reason, owner } => (Some(reason.clone()), Some(owner.clone())),
        Change::Exempt { reason } | Change::NeedsReauth { reason } => (Some(reason.clone()), None),
        _ => (None, None),
    };
    let keeps_attention = to == OrgState::NeedsAttention;
    // Returning to the campaign starts a new round of notices.
    let round = if to == OrgState::NeedsReauth {
        org.campaign_round + 1
    } else {
        org.campaign_round
    };
    // The burn-down counts an org as done from the first time it consents or is exempted.
    let completed_at = if to.completes_rollout() && org.completed_at.is_none() {
        Set(Some(now))
    } else if to.awaits_customer() && to != OrgState::NeedsReauth {
        // Reinstated from exempt before ever consenting: remaining again.
        Set(None)
    } else {
        sea_orm::ActiveValue::NotSet
    };
    let update = org::ActiveModel {
        completed_at,
        state: Set(to),
        state_changed_at: Set(now),
        resume_state: Set(resume),
        attention_reason: Set(if keeps_attention {
            reason.clone()
        } else {
            None
        }),
        attention_owner: Set(if keeps_attention { owner.clone() } else { None }),
        campaign_round: Set(round),
        updated_at: Set(now),
        ..Default::default()
    };
    // Guarded by the state we read: a concurrent change makes this a no-op we report.
    let res = org::Entity::update_many()
        .set(update)
        .filter(org::Column::Id.eq(org_id.as_str()))
        .filter(org::Column::State.eq(org.state))
        .exec(&txn)
        .await?;
    if res.rows_affected != 1 {
        return Err(Error::Conflict(format!(
            "org {org_id} changed state concurrently; try again"
        )));
    }
    let mut details = serde_json::json!({ "from": org.state, "to": to });
    if let Some(r) = reason {
        details["reason"] = r.into();
    }
    if let Some(o) = owner {
        details["owner"] = o.into();
    }
    events::record(&txn, now, actor, Some(org_id), "org.state_changed", details).await?;
    txn.commit().await?;
    Ok(Outcome::Changed {
        from: org.state,
        to,
    })
}

/// Moves an org to `needs_attention` on reauth's own account ([`Actor::System`]), `owner`
/// (customer, partner, csm) to act.
pub async fn needs_attention<C: TransactionTrait + ConnectionTrait>(
    db: &C,
    org_id: &OrgId,
    reason: String,
    owner: &str,
    now: DateTime<Utc>,
) -> Result<Outcome> {
    let change = Change::NeedsAttention {
        reason,
        owner: owner.into(),
    };
    apply(db, org_id, change, &Actor::System, now).await
}

#[cfg(test)]
mod tests {
    use super::OrgState::*;
    use super::*;

    fn to(current: OrgState, change: Change) -> Option<OrgState> {
        plan(current, None, &change).unwrap().map(|(s, _)| s)
    }

    #[test]
    fn forward_moves_may_skip_steps() {
        assert_eq!(to(Pending, Change::Advance(Consented)), Some(Consented));
        assert_eq!(to(Notified, Change::Advance(Opened)), Some(Opened));
    }

    #[test]
    fn opening_a_link_never_moves_an_org_back() {
        assert_eq!(to(Verified, Change::Advance(Opened)), None);
        assert_eq!(to(Consented, Change::Advance(Consented)), None);
    }

    #[test]
    fn attention_remembers_where_to_resume() {
        let (s, resume) = plan(
            Opened,
            None,
            &Change::NeedsAttention {
                reason: "r".into(),
                owner: "customer".into(),
            },
        )
        .unwrap()
        .unwrap();
        assert_eq!((s, resume), (NeedsAttention, Some(Opened)));
        assert_eq!(
            plan(NeedsAttention, Some(Opened), &Change::Resume)
                .unwrap()
                .unwrap()
                .0,
            Opened
        );
    }

    #[test]
    fn only_orgs_with_a_token_can_need_reauth() {
        assert!(plan(Pending, None, &Change::NeedsReauth { reason: "x".into() }).is_err());
        assert_eq!(
            to(Verified, Change::NeedsReauth { reason: "x".into() }),
            Some(NeedsReauth)
        );
        assert_eq!(to(NeedsReauth, Change::Advance(Consented)), Some(Consented));
        assert_eq!(to(NeedsReauth, Change::Advance(Opened)), None);
    }

    #[test]
    fn exempt_orgs_can_be_reinstated_and_consent_still_counts() {
        assert_eq!(
            plan(Exempt, Some(Notified), &Change::Reinstate)
                .unwrap()
                .unwrap()
                .0,
            Notified
        );
        assert_eq!(to(Exempt, Change::Advance(Consented)), Some(Consented));
        assert_eq!(to(Exempt, Change::Advance(Notified)), None);
    }

    #[test]
    fn off_line_states_are_not_advance_targets() {
        assert!(plan(Pending, None, &Change::Advance(Exempt)).is_err());
        assert!(plan(Pending, None, &Change::Resume).is_err());
    }
}
