//! [`Shared`]: building the simulator's state from its configuration, and the control API's
//! changes to it.

use super::*;

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
                approvals: HashMap::new(),
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
