//! The simulator's records: codes, grants, refresh and access tokens, login history, counters.
//! One mutex guards them; it is never held across an await.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::{AppInstall, ClientConfig, Config, Faults, OrgConfig, UserConfig};
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtState {
    Current,
    Rotated,
    Revoked,
}

#[derive(Debug, Clone)]
pub struct AccessToken {
    pub grant: u64,
    pub issued: DateTime<Utc>,
    pub revoked: bool,
}

/// A `LoginHistory` record.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoginRow {
    pub id: String,
    pub user_id: String,
    pub login_time: String,
    pub login_type: String,
    pub login_sub_type: String,
    pub source_ip: String,
    pub status: String,
    pub application: String,
    #[serde(skip)]
    pub org_id: String,
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
    pub refresh: HashMap<String, (u64, RtState)>,
    pub access: HashMap<String, AccessToken>,
    pub in_flight: HashSet<String>,
    /// The most recent `LOGIN_HISTORY_CAP` login records, oldest first.
    pub logins: VecDeque<LoginRow>,
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
            g.revoke_grant(*id);
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

    /// Revokes a grant: its refresh token and every access token it minted.
    pub fn revoke_grant(&mut self, id: u64) {
        if let Some(gr) = self.grants.get_mut(&id) {
            gr.revoked = true;
            if let Some(rt) = gr.current_rt.take() {
                self.refresh.insert(rt, (id, RtState::Revoked));
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

    pub fn record_login(
        &mut self,
        user_id: &str,
        org_id: &str,
        sub_type: &str,
        ip: &str,
        status: &str,
        app: &str,
    ) {
        let at = self.now();
        if status == "Success" {
            self.user_logins
                .entry(user_id.to_owned())
                .or_default()
                .push_back(at);
        }
        if self.logins.len() >= LOGIN_HISTORY_CAP {
            self.logins.pop_front();
        }
        let id = ids::to18(&format!("0Ya{}", &ids::random(12)));
        self.logins.push_back(LoginRow {
            id,
            user_id: user_id.to_owned(),
            login_time: at.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string(),
            login_type: "Remote Access 2.0".into(),
            login_sub_type: sub_type.into(),
            source_ip: ip.into(),
            status: status.into(),
            application: app.into(),
            org_id: org_id.into(),
        });
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

    /// Mints a refresh token as the grant's current one.
    pub fn mint_refresh(&mut self, grant: u64) -> String {
        let rt = format!("5Aep861{}", ids::random(80));
        self.refresh.insert(rt.clone(), (grant, RtState::Current));
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
