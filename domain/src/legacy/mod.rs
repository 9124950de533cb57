//! The legacy cut-over: moving every org from the partner's old Connected App to the packaged
//! External Client App without a minute in which the partner's services have no token.
//!
//! Ownership comes first. With rotation a refresh token has one owner, so an imported legacy
//! token is **held** — sealed, never exchanged, never served — until the partner hands it over
//! ([`activate`]) at the moment its services switch to reauth's token API. From then on the
//! vault is its only refresher. The token API serves each org's best working credential (the
//! verified ECA connection, else the activated legacy one); the cut-over happens when the
//! admin's consent is verified, and the [`retire`] job revokes the legacy grant once the ECA
//! connection has kept working for `legacy.retire_after`.
//!
//! | module | owns |
//! |---|---|
//! | [`import`] | reading a partner's token table (CSV or JSON lines) and storing it sealed, held |
//! | [`activate`] | handing held connections over, optionally checking each token at once |
//! | [`retire`] | finding orgs due for retirement, revoking the legacy grant with retries |
//! | [`preflight`] | before a wave's first notice: is the package with the External Client App installed? |
//! | [`report`] | readiness: can the legacy Connected App be removed from the package yet? |

pub mod activate;
pub mod import;
pub mod preflight;
pub mod report;
pub mod retire;

use crate::entity::connection;

/// Why a new External Client App connection cannot simply take over from the legacy one: it was
/// consented by another Salesforce user, or without a scope the legacy grant has. `None`: it can.
pub fn differs(legacy: &connection::Model, eca: &connection::Model) -> Option<String> {
    let user = |u: &str| u.get(..15).unwrap_or(u).to_owned();
    if user(&legacy.sf_user_id) != user(&eca.sf_user_id) {
        return Some(format!(
            "it was consented by Salesforce user {} and the legacy connection belongs to user {}",
            eca.sf_user_id, legacy.sf_user_id
        ));
    }
    let set = |s: &str| {
        s.split_whitespace()
            .map(str::to_owned)
            .collect::<std::collections::BTreeSet<_>>()
    };
    let (old, new) = (set(&legacy.scopes), set(&eca.scopes));
    // More scopes lose the services nothing; a scope the legacy grant had and the new one lacks
    // may. (A legacy row imported without scopes says nothing about them.)
    let missing: Vec<_> = old.difference(&new).cloned().collect();
    if !missing.is_empty() {
        return Some(format!(
            "it lacks scopes the legacy connection has: {}",
            missing.join(" ")
        ));
    }
    None
}
