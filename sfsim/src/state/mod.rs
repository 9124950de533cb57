//! The simulator's records: codes, grants, refresh and access tokens, login history, counters.
//! One mutex guards them; it is never held across an await.
//!
//! This module: the records' types; [`control`]: [`Shared`]'s constructor and the control API's
//! changes (faults, secrets, freezing users, revoking); [`records`]: [`Inner`]'s lookups and the
//! writes the endpoints make (grants, tokens, login history).

mod control;
mod records;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::{
    AppInstall, ClientConfig, Config, Faults, InstalledPackage, OrgConfig, UserConfig,
};
use crate::ids;

/// How many `LoginHistory` rows are kept (the oldest go first), so long runs stay bounded.
pub const LOGIN_HISTORY_CAP: usize = 100_000;

/// Counters served at `/_sim/stats`.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Stats {
    pub code_exchanges: u64,
    pub refresh_ok: u64,
    /// Refused refreshes by `error_description`.
    pub refresh_rejected: BTreeMap<String, u64>,
    pub reuse_detected: u64,
    /// Grants revoked because a rotated-out token was used (a grant counts once, however often
    /// its dead tokens are presented afterwards).
    pub grants_revoked_for_reuse: u64,
    pub concurrent_rejected: u64,
    pub dropped_responses: u64,
    pub live_grants: u64,
    pub revocations: u64,
    /// Grants revoked, by `revoked_reason` (each grant counts once).
    pub revoked_by_reason: BTreeMap<String, u64>,
    /// Every REST and Tooling query request, next-page requests included, whatever the answer.
    pub rest_queries: u64,
    /// REST answers `401 INVALID_SESSION_ID` (any endpoint).
    pub invalid_session: u64,
    /// Grants created through `POST /_sim/grants`.
    pub grants_minted: u64,
    /// `/_sim/steal` attempts, and those that refreshed.
    pub steal_attempts: u64,
    pub steal_ok: u64,
    /// Token requests authenticated with a client's previous (staged-out) secret.
    pub old_secret_accepted: u64,
    /// The most refresh-token requests in flight at once (each counted from its arrival to its
    /// answer): what a client's concurrency limit really let through.
    pub peak_refreshes_in_flight: u64,
}

/// A pending authorization code.
#[derive(Debug, Clone)]
pub struct Code {
    pub client_id: String,
    pub redirect_uri: String,
    pub org_id: String,
    pub user_id: String,
    pub challenge: Option<String>,
    pub scopes: Vec<String>,
    pub expires: DateTime<Utc>,
    pub login_host: String,
    /// The authorize request's `nonce`, echoed in the `id_token`.
    pub nonce: Option<String>,
}

/// Why a grant was revoked.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RevokeReason {
    /// A rotated-out refresh token was presented.
    Reuse,
    /// `/_sim/users/{username}/revoke-grants` (an admin revoking a user's grants in Setup).
    User,
    /// `POST /services/oauth2/revoke` (refresh token, `DeleteToken`, or the last access token of a
    /// grant without refresh token).
    RevokeEndpoint,
    /// `POST /_sim/grants/revoke` (mass revocation).
    Admin,
    /// The refresh policy's idle or lifetime limit, found when the token was presented.
    Expired,
    /// A sixth approval of the same user for the same app evicted it.
    ApprovalLimit,
    /// A refresh with a bad secret, under `settings.bad_secret_revokes_grant`.
    BadSecret,
}

impl RevokeReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reuse => "reuse",
            Self::User => "user",
            Self::RevokeEndpoint => "revoke_endpoint",
            Self::Admin => "admin",
            Self::Expired => "expired",
            Self::ApprovalLimit => "approval_limit",
            Self::BadSecret => "bad_secret",
        }
    }
}

/// How a grant came to be.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum GrantOrigin {
    /// A web server flow code exchange.
    WebServer,
    /// The username-password flow.
    Password,
    /// `POST /_sim/grants` (a token the partner already held).
    Minted,
}

/// What a reuse revocation saw.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ReuseInfo {
    /// How many rotations behind the current token the presented one was (1: the token the
    /// latest rotation replaced, i.e. that rotation's answer never reached its owner).
    pub generations_behind: u64,
    /// Whether the latest rotation's answer was dropped by fault injection.
    pub latest_rotation_dropped: bool,
    /// Whether the latest rotation was a `/_sim/steal` refresh.
    pub latest_rotation_by_thief: bool,
    pub at: DateTime<Utc>,
}

/// One grant as `/_sim/grants` and `Sim::grants()` show it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct GrantInfo {
    pub id: u64,
    pub client_id: String,
    pub org_id: String,
    pub user_id: String,
    pub username: String,
    pub scopes: Vec<String>,
    pub origin: GrantOrigin,
    pub created: DateTime<Utc>,
    /// The last successful exchange (the idle clock).
    pub last_exchange: DateTime<Utc>,
    /// `OauthToken.LastUsedDate` and `UseCount`.
    pub last_used: DateTime<Utc>,
    pub use_count: u64,
    /// How many times the refresh token rotated.
    pub rotations: u64,
    /// Refresh answers that rotated and were then dropped by fault injection.
    pub dropped_answers: u64,
    /// Successful `/_sim/steal` refreshes.
    pub stolen_refreshes: u64,
    pub has_refresh_token: bool,
    pub revoked: bool,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_reason: Option<RevokeReason>,
    /// Set when the grant was revoked for reuse.
    pub reuse: Option<ReuseInfo>,
}

/// One approval: a user's grant to a client, with its current refresh token.
#[derive(Debug, Clone)]
pub struct Grant {
    pub client_id: String,
    pub org_id: String,
    pub user_id: String,
    pub scopes: Vec<String>,
    pub created: DateTime<Utc>,
    pub last_exchange: DateTime<Utc>,
    pub current_rt: Option<String>,
    pub use_count: u64,
    pub revoked: bool,
    pub login_host: String,
    pub origin: GrantOrigin,
    pub last_used: DateTime<Utc>,
    pub rotations: u64,
    pub dropped_answers: u64,
    pub stolen_refreshes: u64,
    pub last_rotation_dropped: bool,
    pub last_rotation_by_thief: bool,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_reason: Option<RevokeReason>,
    pub reuse: Option<ReuseInfo>,
    /// `OauthToken.DeleteToken`: revokes the grant at `/services/oauth2/revoke`.
    pub delete_token: String,
}

impl Grant {
    /// A fresh grant created now.
    pub fn new(
        client_id: &str,
        org_id: &str,
        user_id: &str,
        scopes: Vec<String>,
        now: DateTime<Utc>,
        login_host: &str,
        origin: GrantOrigin,
    ) -> Self {
        Self {
            client_id: client_id.to_owned(),
            org_id: org_id.to_owned(),
            user_id: user_id.to_owned(),
            scopes,
            created: now,
            last_exchange: now,
            current_rt: None,
            use_count: 1,
            revoked: false,
            login_host: login_host.to_owned(),
            origin,
            last_used: now,
            rotations: 0,
            dropped_answers: 0,
            stolen_refreshes: 0,
            last_rotation_dropped: false,
            last_rotation_by_thief: false,
            revoked_at: None,
            revoked_reason: None,
            reuse: None,
            delete_token: format!("0DT{}", ids::random(40)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtState {
    Current,
    Rotated,
    Revoked,
}

/// What sfsim knows about a refresh token it issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtEntry {
    pub grant: u64,
    pub state: RtState,
    /// 0 for the grant's first refresh token, +1 per rotation.
    pub generation: u64,
}

/// An open query cursor (`nextRecordsUrl`): every record of the answer, served a batch at a
/// time from the offset in the URL (so a page can be fetched again).
#[derive(Debug, Clone)]
pub struct Cursor {
    pub user_id: String,
    pub tooling: bool,
    pub object: String,
    pub records: Vec<serde_json::Value>,
    pub batch: usize,
    pub last_access: DateTime<Utc>,
}

/// How many query cursors stay open (the oldest close first).
pub const CURSOR_CAP: usize = 10_000;

#[derive(Debug, Clone)]
pub struct AccessToken {
    pub grant: u64,
    pub issued: DateTime<Utc>,
    pub revoked: bool,
}

/// A `LoginHistory` record (the fields sfsim models; the query endpoint serves the others as
/// Salesforce does for OAuth logins, mostly null).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct LoginRow {
    pub id: String,
    pub user_id: String,
    /// Salesforce's REST format, `2026-12-01T10:00:00.000+0000`.
    pub login_time: String,
    pub login_type: String,
    pub login_sub_type: String,
    pub source_ip: String,
    pub status: String,
    /// The client's `app_label`.
    pub application: String,
    pub country_iso: String,
    #[serde(skip)]
    pub org_id: String,
    /// The client behind the row (not a Salesforce field).
    #[serde(skip)]
    pub client_id: String,
    #[serde(skip)]
    pub time: DateTime<Utc>,
}

/// A user as the simulator knows it.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub org_id: String,
    pub username: String,
    pub password: String,
    pub admin: bool,
    pub frozen: bool,
}

pub struct Inner {
    pub config: Config,
    pub users: Vec<User>,
    /// Positions in `users` by user id and by username (users never change after start).
    by_id: HashMap<String, usize>,
    by_name: HashMap<String, usize>,
    pub offset: chrono::Duration,
    pub codes: HashMap<String, Code>,
    pub grants: HashMap<u64, Grant>,
    /// Grant ids by (user id, client id), for the approval limit without a scan of every grant
    /// (live ones; a revoked id is dropped the next time its user approves the app again).
    pub approvals: HashMap<(String, String), Vec<u64>>,
    pub next_grant: u64,
    pub refresh: HashMap<String, RtEntry>,
    pub access: HashMap<String, AccessToken>,
    pub in_flight: HashSet<String>,
    /// The most recent `LOGIN_HISTORY_CAP` login records, oldest first.
    pub logins: VecDeque<LoginRow>,
    /// Sequence number of `logins.front()` (each row's number is its position plus this).
    pub logins_base: u64,
    /// Sequence numbers of each user's rows, oldest first (an index for `WHERE UserId = …`).
    pub logins_by_user: HashMap<String, VecDeque<u64>>,
    /// `OauthToken.DeleteToken` → grant.
    pub delete_tokens: HashMap<String, u64>,
    /// Open query cursors, and their ids oldest first.
    pub cursors: HashMap<String, Cursor>,
    pub cursor_order: VecDeque<String>,
    /// Successful logins per user in the last hour, for the login rate (oldest first).
    pub user_logins: HashMap<String, VecDeque<DateTime<Utc>>>,
    /// Access tokens minted by each grant (so revoking a grant touches only its own tokens).
    pub grant_tokens: HashMap<u64, Vec<String>>,
    pub stats: Stats,
    /// Pending interactive authorizations (login → consent), by transaction id.
    pub txns: HashMap<String, crate::pages::Txn>,
}

/// Shared state behind the router.
pub struct Shared {
    pub base_url: String,
    pub inner: Mutex<Inner>,
    /// The `id_token` signing key (`None` only if the built-in key failed to load).
    pub id_key: Option<crate::oidc::IdKey>,
}

/// Salesforce's REST datetime format: `2026-12-01T10:00:00.000+0000`.
pub fn sf_datetime(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}
