//! [`Inner`]: lookups, and the writes the endpoints make (grants, tokens, login history).

use super::*;

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
        self.approvals
            .entry((grant.user_id.clone(), grant.client_id.clone()))
            .or_default()
            .push(gid);
        self.grants.insert(gid, grant);
        gid
    }

    /// Five approvals per user per app: revokes the oldest live ones so that one more fits
    /// (facts §6).
    pub fn make_room_for_approval(&mut self, user_id: &str, client_id: &str) {
        let key = (user_id.to_owned(), client_id.to_owned());
        let ids = self.approvals.entry(key).or_default();
        let grants = &self.grants;
        ids.retain(|id| grants.get(id).is_some_and(|gr| !gr.revoked));
        let mut mine: Vec<(u64, DateTime<Utc>)> =
            ids.iter().map(|id| (*id, grants[id].created)).collect();
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
