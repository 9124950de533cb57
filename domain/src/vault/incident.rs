//! Revoking one connection for an incident (`reauth incident start --revoke`): through
//! [`Vault::retire`] (an admin lease, the row marked `revoked` first so nothing refreshes it, its
//! newest refresh token revoked at Salesforce), or — when the row is already out of service
//! (an earlier attempt marked it and was interrupted before or after Salesforce answered, or a
//! newer consent superseded it) — by presenting its newest token to `/services/oauth2/revoke`
//! again. An out-of-service row is never refreshed, so its token cannot change under us; and
//! Salesforce answers `invalid_token` for a token it already revoked, which we record as revoked:
//! a repeated attempt never revokes twice and never leaves a grant live.

use std::time::Duration;

use super::Vault;
use super::protocol::login_of;
use super::retire::Retired;
use crate::entity::connection::ConnectionStatus;
use crate::error::Result;
use crate::salesforce::SfError;

/// What revoking a connection for an incident came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncidentRevoke {
    /// The grant is gone at Salesforce (revoked now, or it was already); the detail says which.
    Revoked(String),
    /// Salesforce did not confirm (or the token could not be read): worth another attempt.
    Failed(String),
}

/// Said when Salesforce revoked the grant just now.
pub const REVOKED_NOW: &str = "revoked at Salesforce";

impl Vault {
    /// Takes the connection out of service (if it is not already) and revokes its grant.
    pub async fn revoke_for_incident(&self, id: i64) -> Result<IncidentRevoke> {
        let c = self.reload(id).await?;
        if !c.status.is_terminal() {
            match self.retire(id, ConnectionStatus::Revoked).await? {
                Retired::Done { revoke } if revoke == REVOKED_NOW => {
                    return Ok(IncidentRevoke::Revoked(revoke));
                }
                Retired::Done { revoke } if revoke == "no token was stored" => {
                    return Ok(IncidentRevoke::Revoked(revoke));
                }
                Retired::Done { revoke } => return Ok(IncidentRevoke::Failed(revoke)),
                // Retired meanwhile by someone else: revoke its token below.
                Retired::Already(_) => {}
            }
        }
        self.revoke_retired(id).await
    }

    /// Presents an out-of-service row's newest refresh token to Salesforce's revoke endpoint.
    async fn revoke_retired(&self, id: i64) -> Result<IncidentRevoke> {
        let c = self.reload(id).await?;
        let token = match self.newest_refresh_token(&c) {
            Ok(Some(t)) => t,
            Ok(None) => return Ok(IncidentRevoke::Revoked("no token was stored".into())),
            Err(e) => return Ok(IncidentRevoke::Failed(format!("could not revoke: {e}"))),
        };
        let login = match login_of(&c, self.config()) {
            Ok(l) => l,
            Err(e) => return Ok(IncidentRevoke::Failed(format!("could not revoke: {e}"))),
        };
        let sf = match self.client_for(c.app) {
            Ok(sf) => sf,
            Err(e) => return Ok(IncidentRevoke::Failed(format!("could not revoke: {e}"))),
        };
        Ok(match sf.revoke(&login, &token).await {
            Ok(()) => IncidentRevoke::Revoked(REVOKED_NOW.into()),
            Err(SfError::OAuth {
                status: 400, error, ..
            }) if error == "invalid_token" => IncidentRevoke::Revoked(
                "already revoked (Salesforce no longer knew the token)".into(),
            ),
            Err(e) => {
                IncidentRevoke::Failed(format!("Salesforce did not confirm the revocation: {e}"))
            }
        })
    }

    /// How long a claim on one revocation lasts before another worker may take it over: two
    /// Salesforce calls and a margin. A claim taken over from a live worker costs one redundant
    /// call, never a second revocation: the admin lease serialises the two, and the later one
    /// finds the row retired and its token already refused (`invalid_token`).
    pub fn incident_claim_horizon(&self) -> Duration {
        self.config().salesforce.http_timeout * 2 + Duration::from_secs(10)
    }
}
