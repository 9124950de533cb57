//! The simulator's records: codes, grants, refresh and access tokens, login history, counters.
//! One mutex guards them; it is never held across an await.

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

impl Shared {
    pub fn new(config: Config, base_url: String) -> Self {
        let mut users = Vec::new();
        for o in &config.orgs {
            for (i, u) in o.users.iter().enumerate() {
                users.push(user(o, u, i));
            }
        }
        let by_id = users
            .iter()
            .enumerate()
            .map(|(i, u)| (u.id.clone(), i))
            .collect();
        let by_name = users
            .iter()
            .enumerate()
            .map(|(i, u)| (u.username.clone(), i))
            .collect();
        Self {
            base_url,
            id_key: crate::oidc::IdKey::load(),
            inner: Mutex::new(Inner {
                config,
                users,
                by_id,
                by_name,
                offset: chrono::Duration::zero(),
                codes: HashMap::new(),
                grants: HashMap::new(),
                next_grant: 1,
                refresh: HashMap::new(),
                access: HashMap::new(),
                in_flight: HashSet::new(),
                logins: VecDeque::new(),
                logins_base: 0,
                logins_by_user: HashMap::new(),
                delete_tokens: HashMap::new(),
                cursors: HashMap::new(),
                cursor_order: VecDeque::new(),
                user_logins: HashMap::new(),
                grant_tokens: HashMap::new(),
                stats: Stats::default(),
                txns: HashMap::new(),
            }),
        }
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent maps (every change is a single insert
        // or update), so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn stats(&self) -> Stats {
        let g = self.lock();
        let mut s = g.stats.clone();
        s.live_grants = g.grants.values().filter(|gr| !gr.revoked).count() as u64;
        s
    }

    pub fn config(&self) -> Config {
        let g = self.lock();
        let mut c = g.config.clone();
        for o in &mut c.orgs {
            for u in &mut o.users {
                if let Some(live) = g.user_by_name(&u.username) {
                    u.frozen = live.frozen;
                    u.id = Some(live.id.clone());
                }
            }
        }
        c
    }

    pub fn advance_clock(&self, by: Duration) {
        let mut g = self.lock();
        g.offset +=
            chrono::Duration::from_std(by).unwrap_or_else(|_| chrono::Duration::days(36_500));
    }

    pub fn set_faults(&self, f: Faults) {
        self.lock().config.faults = f;
    }

    pub fn revoke_user_grants(&self, username: &str) -> usize {
        let mut g = self.lock();
        let Some(uid) = g.user_by_name(username).map(|u| u.id.clone()) else {
            return 0;
        };
        let ids: Vec<u64> = g
            .grants
            .iter()
            .filter(|(_, gr)| gr.user_id == uid && !gr.revoked)
            .map(|(id, _)| *id)
            .collect();
        for id in &ids {
            g.revoke_grant(*id, RevokeReason::User);
        }
        ids.len()
    }

    pub fn set_frozen(&self, username: &str, frozen: bool) -> bool {
        let mut g = self.lock();
        match g
            .by_name
            .get(username)
            .copied()
            .and_then(|i| g.users.get_mut(i))
        {
            Some(u) => {
                u.frozen = frozen;
                true
            }
            None => false,
        }
    }

    pub fn set_app_state(&self, org_id: &str, client_id: &str, state: AppInstall) {
        let org = ids::norm18(org_id);
        let mut g = self.lock();
        if let Some(o) = g.config.orgs.iter_mut().find(|o| ids::norm18(&o.id) == org) {
            o.apps.insert(client_id.to_owned(), state);
        }
    }

    pub fn set_org_locked(&self, org_id: &str, locked: bool) -> bool {
        let org = ids::norm18(org_id);
        let mut g = self.lock();
        match g.config.orgs.iter_mut().find(|o| ids::norm18(&o.id) == org) {
            Some(o) => {
                o.locked = locked;
                true
            }
            None => false,
        }
    }

    pub fn set_installed_packages(&self, org_id: &str, packages: Vec<InstalledPackage>) -> bool {
        let org = ids::norm18(org_id);
        let mut g = self.lock();
        match g.config.orgs.iter_mut().find(|o| ids::norm18(&o.id) == org) {
            Some(o) => {
                o.installed_packages = packages;
                true
            }
            None => false,
        }
    }

    /// Replaces a client's secret; `keep_old` keeps the current one accepted too.
    pub fn set_client_secret(&self, client_id: &str, secret: &str, keep_old: bool) -> bool {
        let mut g = self.lock();
        let Some(c) = g
            .config
            .clients
            .iter_mut()
            .find(|c| c.client_id == client_id)
        else {
            return false;
        };
        let old = c.client_secret.replace(secret.to_owned());
        c.previous_client_secret = if keep_old { old } else { None };
        true
    }

    /// Stops accepting a client's previous secret.
    pub fn drop_previous_secret(&self, client_id: &str) -> bool {
        let mut g = self.lock();
        match g
            .config
            .clients
            .iter_mut()
            .find(|c| c.client_id == client_id)
        {
            Some(c) => {
                c.previous_client_secret = None;
                true
            }
            None => false,
        }
    }

    pub fn grants(&self) -> Vec<GrantInfo> {
        let g = self.lock();
        let mut out: Vec<GrantInfo> = g
            .grants
            .iter()
            .map(|(id, gr)| g.grant_info(*id, gr))
            .collect();
        out.sort_by_key(|i| i.id);
        out
    }

    pub fn login_history(&self) -> Vec<LoginRow> {
        self.lock().logins.iter().cloned().collect()
    }

    pub fn add_redirect_uri(&self, uri: &str) {
        let mut g = self.lock();
        let c = std::mem::replace(
            &mut g.config,
            Config {
                settings: Default::default(),
                faults: Default::default(),
                clients: vec![],
                orgs: vec![],
            },
        );
        g.config = c.with_redirect_uri(uri);
    }

    /// Replaces a client's refresh-token IP allowlist; `false` for an unknown client.
    pub fn set_ip_allowlist(&self, client_id: &str, allowlist: Vec<ipnet::IpNet>) -> bool {
        let mut g = self.lock();
        match g
            .config
            .clients
            .iter_mut()
            .find(|c| c.client_id == client_id)
        {
            Some(c) => {
                c.ip_allowlist = allowlist;
                true
            }
            None => false,
        }
    }
}

fn user(o: &OrgConfig, u: &UserConfig, i: usize) -> User {
    let org_id = ids::norm18(&o.id);
    let id = u.id.as_deref().map(ids::norm18).unwrap_or_else(|| {
        // Deterministic ids from the org's id and the user's position: stable across restarts,
        // always 15 characters (8 from the org, 4 base-62 digits of position: 14.7 million users).
        let org_part = &org_id[7..15];
        ids::to18(&format!("005{org_part}{}", ids::base62(i + 1, 4)))
    });
    User {
        id,
        org_id,
        username: u.username.clone(),
        password: u.password.clone(),
        admin: u.admin,
        frozen: u.frozen,
    }
}

impl Inner {
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset
    }

    pub fn client(&self, id: &str) -> Option<&ClientConfig> {
        self.config.clients.iter().find(|c| c.client_id == id)
    }

    pub fn org(&self, id: &str) -> Option<&OrgConfig> {
        self.config.orgs.iter().find(|o| ids::norm18(&o.id) == id)
    }

    pub fn org_locked(&self, org_id: &str) -> bool {
        self.org(org_id).is_some_and(|o| o.locked)
    }

    pub fn app_state(&self, org_id: &str, client_id: &str) -> AppInstall {
        self.org(org_id)
            .and_then(|o| o.apps.get(client_id).copied())
            .unwrap_or_default()
    }

    pub fn user_by_id(&self, id: &str) -> Option<&User> {
        self.by_id.get(id).and_then(|i| self.users.get(*i))
    }

    pub fn user_by_name(&self, username: &str) -> Option<&User> {
        self.by_name.get(username).and_then(|i| self.users.get(*i))
    }

    /// The label of a client's app (the client id when unknown or unlabelled).
    pub fn app_label(&self, client_id: &str) -> String {
        self.client(client_id)
            .map_or(client_id, ClientConfig::label)
            .to_owned()
    }

    pub fn grant_info(&self, id: u64, gr: &Grant) -> GrantInfo {
        GrantInfo {
            id,
            client_id: gr.client_id.clone(),
            org_id: gr.org_id.clone(),
            user_id: gr.user_id.clone(),
            username: self
                .user_by_id(&gr.user_id)
                .map(|u| u.username.clone())
                .unwrap_or_default(),
            scopes: gr.scopes.clone(),
            origin: gr.origin,
            created: gr.created,
            last_exchange: gr.last_exchange,
            last_used: gr.last_used,
            use_count: gr.use_count,
            rotations: gr.rotations,
            dropped_answers: gr.dropped_answers,
            stolen_refreshes: gr.stolen_refreshes,
            has_refresh_token: gr.current_rt.is_some(),
            revoked: gr.revoked,
            revoked_at: gr.revoked_at,
            revoked_reason: gr.revoked_reason,
            reuse: gr.reuse.clone(),
        }
    }

    /// Stores a new grant and returns its id.
    pub fn insert_grant(&mut self, grant: Grant) -> u64 {
        let gid = self.next_grant;
        self.next_grant += 1;
        self.delete_tokens.insert(grant.delete_token.clone(), gid);
        self.grants.insert(gid, grant);
        gid
    }

    /// Five approvals per user per app: revokes the oldest live ones so that one more fits
    /// (facts §6).
    pub fn make_room_for_approval(&mut self, user_id: &str, client_id: &str) {
        let mut mine: Vec<(u64, DateTime<Utc>)> = self
            .grants
            .iter()
            .filter(|(_, gr)| gr.user_id == user_id && gr.client_id == client_id && !gr.revoked)
            .map(|(id, gr)| (*id, gr.created))
            .collect();
        mine.sort_by_key(|(id, c)| (*c, *id));
        while mine.len() >= 5 {
            let (oldest, _) = mine.remove(0);
            self.revoke_grant(oldest, RevokeReason::ApprovalLimit);
        }
    }

    /// Revokes a grant: its refresh token and every access token it minted. The first reason
    /// given is the one kept.
    pub fn revoke_grant(&mut self, id: u64, reason: RevokeReason) {
        let now = self.now();
        if let Some(gr) = self.grants.get_mut(&id) {
            if !gr.revoked {
                gr.revoked = true;
                gr.revoked_at = Some(now);
                gr.revoked_reason = Some(reason);
                *self
                    .stats
                    .revoked_by_reason
                    .entry(reason.as_str().to_owned())
                    .or_default() += 1;
            }
            if let Some(rt) = gr.current_rt.take()
                && let Some(e) = self.refresh.get_mut(&rt)
            {
                e.state = RtState::Revoked;
            }
        }
        for t in self.grant_tokens.get(&id).into_iter().flatten() {
            if let Some(at) = self.access.get_mut(t) {
                at.revoked = true;
            }
        }
        self.stats.revocations += 1;
    }

    /// Successful logins by a user in the last hour (pruning older ones as it counts).
    pub fn logins_last_hour(&mut self, user_id: &str) -> u32 {
        let since = self.now() - chrono::Duration::hours(1);
        let Some(q) = self.user_logins.get_mut(user_id) else {
            return 0;
        };
        while q.front().is_some_and(|t| *t <= since) {
            q.pop_front();
        }
        q.len() as u32
    }

    /// Whether a grant still has an access token that is not revoked.
    pub fn has_live_access(&self, grant: u64) -> bool {
        self.grant_tokens
            .get(&grant)
            .into_iter()
            .flatten()
            .any(|t| self.access.get(t).is_some_and(|a| !a.revoked))
    }

    /// Writes a `LoginHistory` row (`Remote Access 2.0`) for a client's token request.
    pub fn record_login(
        &mut self,
        user_id: &str,
        org_id: &str,
        sub_type: &str,
        ip: std::net::IpAddr,
        status: &str,
        client_id: &str,
    ) {
        let at = self.now();
        if status == "Success" {
            self.user_logins
                .entry(user_id.to_owned())
                .or_default()
                .push_back(at);
        }
        if self.logins.len() >= LOGIN_HISTORY_CAP
            && let Some(old) = self.logins.pop_front()
        {
            if let Some(q) = self.logins_by_user.get_mut(&old.user_id) {
                q.pop_front();
                if q.is_empty() {
                    self.logins_by_user.remove(&old.user_id);
                }
            }
            self.logins_base += 1;
        }
        let seq = self.logins_base + self.logins.len() as u64;
        let id = ids::to18(&format!("0Ya{}", &ids::random(12)));
        let row = LoginRow {
            id,
            user_id: user_id.to_owned(),
            login_time: sf_datetime(at),
            login_type: "Remote Access 2.0".into(),
            login_sub_type: sub_type.into(),
            source_ip: ip.to_string(),
            status: status.into(),
            application: self.app_label(client_id),
            country_iso: self.config.settings.country_of(ip).to_owned(),
            org_id: org_id.into(),
            client_id: client_id.into(),
            time: at,
        };
        self.logins.push_back(row);
        self.logins_by_user
            .entry(user_id.to_owned())
            .or_default()
            .push_back(seq);
    }

    /// The login row with sequence number `seq`, if still kept.
    pub fn login_at(&self, seq: u64) -> Option<&LoginRow> {
        let i = usize::try_from(seq.checked_sub(self.logins_base)?).ok()?;
        self.logins.get(i)
    }

    /// Mints an access token for a grant.
    pub fn mint_access(&mut self, grant: u64, org_id: &str) -> String {
        let at = format!("{}!AQ{}", &org_id[..15], ids::random(94));
        self.grant_tokens.entry(grant).or_default().push(at.clone());
        self.access.insert(
            at.clone(),
            AccessToken {
                grant,
                issued: self.now(),
                revoked: false,
            },
        );
        at
    }

    /// Mints a refresh token as the grant's current one (generation = the grant's rotations).
    pub fn mint_refresh(&mut self, grant: u64) -> String {
        let rt = format!("5Aep861{}", ids::random(80));
        let generation = self.grants.get(&grant).map_or(0, |g| g.rotations);
        self.refresh.insert(
            rt.clone(),
            RtEntry {
                grant,
                state: RtState::Current,
                generation,
            },
        );
        if let Some(gr) = self.grants.get_mut(&grant) {
            gr.current_rt = Some(rt.clone());
        }
        rt
    }

    /// The grant behind a live access token, if the token is live.
    pub fn live_access(&self, token: &str) -> Option<(u64, &Grant)> {
        let at = self.access.get(token)?;
        let gr = self.grants.get(&at.grant)?;
        let timeout = self
            .client(&gr.client_id)
            .map(|c| c.session_timeout)
            .unwrap_or(Duration::from_secs(7200));
        let expired =
            self.now() - at.issued > chrono::Duration::from_std(timeout).unwrap_or_default();
        (!at.revoked && !gr.revoked && !expired).then_some((at.grant, gr))
    }
}

/// Salesforce's REST datetime format: `2026-12-01T10:00:00.000+0000`.
pub fn sf_datetime(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}
