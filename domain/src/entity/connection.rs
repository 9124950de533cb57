//! `connections`: one Salesforce grant for one org and one app, tokens sealed at rest.
//!
//! Rows are written only through the vault's fenced lease API (`crate::vault::lease`); this
//! module only describes them.

use sea_orm::entity::prelude::*;

use crate::types::OrgId;

snake_case_enum! {
    /// Where a connection stands.
    pub enum ConnectionStatus {
        /// Working: heartbeated and served.
        Active,
        /// Stored after a consent, waiting for the identity check; heartbeated, never served.
        Verifying,
        /// A lease holder is exchanging its refresh token (write-ahead mark: if the lease runs out
        /// in this state, the holder died mid-rotation and recovery probes once).
        Refreshing,
        /// The grant is gone; the org must consent again.
        NeedsReauth,
        /// Revoked at Salesforce (by staff, or when a newer consent replaced it).
        Revoked,
        /// Replaced by a newer, verified connection (and revoked at Salesforce).
        Superseded,
        /// Salesforce answered with a token for another org or user than the row's: the token is
        /// kept sealed (it is the newest, and presenting the old one would be a reuse), but nothing
        /// is served or refreshed until a person looks.
        Quarantined,
        /// A legacy token imported but not handed over: the partner's services still refresh it, so
        /// reauth never exchanges or serves it (one exchange would kill their copy).
        Held,
        /// Verified and kept alive, but not served: it was consented by another Salesforce user (or
        /// with other scopes) than the legacy connection it would replace, and staff must accept it.
        Standby,
        /// Out of service; its revocation at Salesforce has not been confirmed yet (retried).
        Retiring,
    }
}

impl ConnectionStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether the grant behind it is still alive at Salesforce as far as reauth knows (so
    /// it counts against Salesforce's approvals and someone must own its refresh token).
    pub fn is_live(self) -> bool {
        matches!(
            self,
            Self::Active
                | Self::Verifying
                | Self::Refreshing
                | Self::Quarantined
                | Self::Held
                | Self::Standby
                | Self::Retiring
        )
    }

    /// Whether nothing will ever happen to it again.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Revoked | Self::Superseded)
    }
}

snake_case_enum! {
    /// Which of the partner's apps a connection belongs to.
    pub enum ConnectionApp {
        /// The partner's old Connected App.
        Legacy,
        /// The packaged External Client App.
        Eca,
    }
}

impl ConnectionApp {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

snake_case_enum! {
    /// What kind of failure a refresh met, which decides what happens next.
    pub enum ErrorClass {
        /// The grant is gone (revoked, expired, reused): the customer must consent again.
        Revoked,
        /// The customer's org refuses us (IP restriction, app blocked or not installed, inactive
        /// user or org, not pre-authorized): the token still stands; the customer must fix setup.
        CustomerSetup,
        /// We cannot know whether Salesforce acted (time-out after sending, 5xx, a concurrent
        /// request, an unreadable answer): never resend blindly; probe once with the stored token.
        Ambiguous,
        /// The request provably never reached the exchange (connection refused, TLS, login rate):
        /// retry with backoff and jitter.
        Transient,
        /// Our side is wrong (client credentials, decryption, configuration): alert the partner.
        Ours,
    }
}

impl ErrorClass {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whose move it is.
    pub fn owner(self) -> &'static str {
        match self {
            Self::Revoked | Self::CustomerSetup => "customer",
            Self::Ambiguous | Self::Transient => "salesforce",
            Self::Ours => "partner",
        }
    }
}

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "connections")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub org_id: OrgId,
    pub app: ConnectionApp,
    pub status: ConnectionStatus,
    pub refresh_token_ct: Option<Vec<u8>>,
    pub access_token_ct: Option<Vec<u8>>,
    pub key_id: Option<String>,
    pub instance_url: String,
    pub id_url: String,
    pub sf_user_id: String,
    pub sf_username: Option<String>,
    pub scopes: String,
    pub issued_at: DateTimeUtc,
    pub access_token_at: Option<DateTimeUtc>,
    pub last_exchange_at: DateTimeUtc,
    pub next_heartbeat_at: Option<DateTimeUtc>,
    pub heartbeat_interval_secs: Option<i64>,
    pub version: i64,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTimeUtc>,
    pub refresh_started_at: Option<DateTimeUtc>,
    pub last_error_class: Option<ErrorClass>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTimeUtc>,
    pub replaces_id: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// A rotated refresh token that could not be stored in place (its writer was fenced out):
    /// sealed, newer than `refresh_token_ct`, and presented first by the next lease holder.
    pub pending_refresh_token_ct: Option<Vec<u8>>,
    pub pending_key_id: Option<String>,
    pub pending_at: Option<DateTimeUtc>,
    /// Why the last answer from Salesforce looked wrong although its token was kept (an unknown
    /// instance host, a signature that does not match…); cleared by the next clean answer.
    pub anomaly: Option<String>,
    /// Verification attempts so far, and when the next one is due (for `verifying` rows).
    pub verify_attempts: i32,
    pub next_verify_at: Option<DateTimeUtc>,
    /// When it was verified (the legacy grant's retirement clock starts here).
    pub verified_at: Option<DateTimeUtc>,
    /// Revocation attempts of a `retiring` connection, and when the next one is due.
    pub revoke_attempts: i32,
    pub next_revoke_at: Option<DateTimeUtc>,
    /// While `refreshing`: the status it returns to when the exchange ends without a verdict.
    pub rests_as: Option<ConnectionStatus>,
}

/// Ciphertexts are not secrets on their own, but nothing gains from printing them.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("app", &self.app)
            .field("status", &self.status)
            .field("version", &self.version)
            .field("last_exchange_at", &self.last_exchange_at)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
