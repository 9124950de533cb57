//! The refresh-token grant: rotation, reuse detection (revoking the grant), concurrent
//! refreshes, idle expiry and the IP allowlist.

use super::{
    Answer, Refusal, check_client, client_auth, hang, invalid_grant, ip_allowed, ip_refusal,
    not_preauthorized, oauth_error, token_body,
};
use crate::config::{AppInstall, RefreshPolicy};
use crate::state::{Inner, ReuseInfo, RevokeReason, RtState, Shared};
use axum::Json;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// Who presents a refresh token, from where, with which client credentials.
pub struct RefreshCtx {
    pub ip: IpAddr,
    pub client_id: Option<String>,
    pub secret: Option<String>,
    /// Fault injection will drop this answer after the rotation.
    pub drop_answer: bool,
    /// A `/_sim/steal` thief.
    pub thief: bool,
}

pub(super) async fn refresh(
    shared: Arc<Shared>,
    ip: IpAddr,
    headers: HeaderMap,
    form: HashMap<String, String>,
    drop_after: bool,
) -> Response {
    let Some(rt) = form.get("refresh_token").cloned() else {
        crate::server::delay(&shared).await;
        return oauth_error(400, "invalid_request", "refresh_token is required");
    };
    // Mark in flight before the (simulated) work, so a concurrent duplicate sees it.
    let duplicate = {
        let mut g = shared.lock();
        let duplicate = !g.in_flight.insert(rt.clone());
        let now_in_flight = g.in_flight.len() as u64;
        g.stats.peak_refreshes_in_flight = g.stats.peak_refreshes_in_flight.max(now_in_flight);
        if duplicate {
            g.stats.concurrent_rejected += 1;
            *g.stats
                .refresh_rejected
                .entry(CONCURRENT.into())
                .or_default() += 1;
            record_for_token(
                &mut g,
                &rt,
                ip,
                &format!("Failed: {}", capitalised(CONCURRENT)),
            );
        }
        duplicate
    };
    if duplicate {
        crate::server::delay(&shared).await;
        return invalid_grant(CONCURRENT);
    }
    // If the client goes away while we "work", this future is dropped: the marker must go too.
    let marker = InFlight {
        shared: shared.clone(),
        token: rt.clone(),
    };
    // The delay is the only await the marker must cover.
    crate::server::delay(&shared).await;
    let (client_id, secret) = client_auth(&form, &headers);
    let ctx = RefreshCtx {
        ip,
        client_id,
        secret,
        drop_answer: drop_after,
        thief: false,
    };
    let result = {
        let mut g = shared.lock();
        let r = refresh_locked(&mut g, &shared, &ctx, &rt);
        g.in_flight.remove(&rt);
        if let Err(refusal) = &r {
            *g.stats
                .refresh_rejected
                .entry(refusal.description.clone())
                .or_default() += 1;
        } else if drop_after {
            g.stats.dropped_responses += 1;
        } else {
            g.stats.refresh_ok += 1;
        }
        r
    };
    // Cleared inside the block above; disarm the guard so it cannot touch a later request's marker.
    let mut marker = marker;
    marker.token.clear();
    drop(marker);
    match result {
        Ok(_) if drop_after => hang().await,
        Ok(body) => Json(body).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

pub const CONCURRENT: &str = "token request is already being processed";

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Writes a failed `OauthRefreshToken` row for the user behind a refresh token of a live grant.
pub fn record_for_token(g: &mut Inner, rt: &str, ip: IpAddr, status: &str) {
    let Some(e) = g.refresh.get(rt).copied() else {
        return;
    };
    let Some((user, org, client)) = g
        .grants
        .get(&e.grant)
        .filter(|gr| !gr.revoked)
        .map(|gr| (gr.user_id.clone(), gr.org_id.clone(), gr.client_id.clone()))
    else {
        return;
    };
    g.record_login(&user, &org, "OauthRefreshToken", ip, status, &client);
}

/// Clears a token's in-flight marker when the request ends, however it ends.
struct InFlight {
    shared: Arc<Shared>,
    token: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if !self.token.is_empty() {
            self.shared.lock().in_flight.remove(&self.token);
        }
    }
}

/// One refresh exchange, under the lock. Refusals before the token is identified leave it
/// untouched; a rotated-out token revokes its grant.
pub fn refresh_locked(
    g: &mut Inner,
    shared: &Shared,
    ctx: &RefreshCtx,
    rt: &str,
) -> Result<serde_json::Value, Refusal> {
    let ip = ctx.ip;
    let cid = ctx.client_id.clone().unwrap_or_default();
    if g.client(&cid).is_none() {
        return Err(Refusal::new(
            400,
            "invalid_client_id",
            "client identifier invalid",
        ));
    }
    let entry = g.refresh.get(rt).copied();
    let accepted = match check_client(g, Some(&cid), ctx.secret.as_deref(), true) {
        Ok(a) => a,
        Err(refusal) => {
            // The secret stopped someone holding a token: a failed row for the token's user. The
            // token stays usable unless `bad_secret_revokes_grant` (UNCONFIRMED).
            let of_client = entry
                .and_then(|e| g.grants.get(&e.grant))
                .is_some_and(|gr| gr.client_id == cid && !gr.revoked);
            if of_client {
                let status = g.config.settings.bad_secret_login_status.clone();
                record_for_token(g, rt, ip, &status);
                if g.config.settings.bad_secret_revokes_grant
                    && let Some(e) = entry
                {
                    g.revoke_grant(e.grant, RevokeReason::BadSecret);
                }
            }
            return Err(refusal);
        }
    };
    let expired = "expired access/refresh token";
    let Some(e) = entry else {
        return Err(Refusal::grant(expired));
    };
    let gid = e.grant;
    if g.grants.get(&gid).is_none_or(|gr| gr.client_id != cid) {
        return Err(Refusal::grant(expired));
    }
    match e.state {
        RtState::Rotated => {
            // Reuse of a rotated-out token: revoke the current token and its access tokens.
            g.stats.reuse_detected += 1;
            let now = g.now();
            if let Some(gr) = g.grants.get_mut(&gid)
                && !gr.revoked
            {
                g.stats.grants_revoked_for_reuse += 1;
                gr.reuse = Some(ReuseInfo {
                    generations_behind: gr.rotations.saturating_sub(e.generation),
                    latest_rotation_dropped: gr.last_rotation_dropped,
                    latest_rotation_by_thief: gr.last_rotation_by_thief,
                    at: now,
                });
            }
            g.revoke_grant(gid, RevokeReason::Reuse);
            return Err(Refusal::grant(expired));
        }
        RtState::Revoked => return Err(Refusal::grant(expired)),
        RtState::Current => {}
    }
    let Some(grant) = g.grants.get(&gid).cloned() else {
        return Err(Refusal::grant(expired));
    };
    let client = g
        .client(&cid)
        .cloned()
        .ok_or_else(|| Refusal::new(400, "invalid_client_id", "client identifier invalid"))?;
    let now = g.now();
    // "Requests for refresh tokens increase the use count", even when the login then fails.
    if let Some(gr) = g.grants.get_mut(&gid) {
        gr.use_count += 1;
        gr.last_used = now;
    }
    let too_old = match client.refresh_policy {
        RefreshPolicy::Infinite => false,
        RefreshPolicy::Idle(d) => {
            now - grant.last_exchange > chrono::Duration::from_std(d).unwrap_or_default()
        }
        RefreshPolicy::Lifetime(d) => {
            now - grant.created > chrono::Duration::from_std(d).unwrap_or_default()
        }
    };
    if too_old {
        g.revoke_grant(gid, RevokeReason::Expired);
        return Err(Refusal::grant(expired));
    }
    if let Some(username) = g.user_by_id(&grant.user_id).map(|u| u.username.clone())
        && let Some(r) = not_preauthorized(g, &cid, &username)
    {
        return Err(r);
    }
    if g.org_locked(&grant.org_id) {
        return Err(Refusal::new(
            400,
            "inactive_org",
            "Org is locked, closed, or suspended",
        ));
    }
    if !ip_allowed(g, &cid, ip) {
        g.record_login(
            &grant.user_id,
            &grant.org_id,
            "OauthRefreshToken",
            ip,
            "Restricted IP",
            &cid,
        );
        return Err(ip_refusal(g));
    }
    match g.app_state(&grant.org_id, &cid) {
        AppInstall::Blocked => {
            return Err(Refusal::new(
                400,
                "app_blocked",
                "this app is blocked by admin",
            ));
        }
        AppInstall::NotInstalled => {
            return Err(Refusal::new(
                400,
                "app_not_found",
                "External client app is not installed in this org",
            ));
        }
        AppInstall::Installed => {}
    }
    if g.user_by_id(&grant.user_id).is_none_or(|u| u.frozen) {
        return Err(Refusal::grant("inactive user"));
    }
    if g.logins_last_hour(&grant.user_id) >= g.config.settings.login_rate_per_hour {
        g.record_login(
            &grant.user_id,
            &grant.org_id,
            "OauthRefreshToken",
            ip,
            "Login Rate Exceeded",
            &cid,
        );
        return Err(Refusal::grant("login rate exceeded"));
    }
    let access = g.mint_access(gid, &grant.org_id);
    let new_rt = if client.rotation {
        if let Some(en) = g.refresh.get_mut(rt) {
            en.state = RtState::Rotated;
        }
        if let Some(gr) = g.grants.get_mut(&gid) {
            gr.rotations += 1;
            gr.last_rotation_dropped = ctx.drop_answer;
            gr.last_rotation_by_thief = ctx.thief;
        }
        Some(g.mint_refresh(gid))
    } else {
        None
    };
    if let Some(gr) = g.grants.get_mut(&gid) {
        gr.last_exchange = now;
        if ctx.drop_answer {
            gr.dropped_answers += 1;
        }
        if ctx.thief {
            gr.stolen_refreshes += 1;
        }
    }
    g.record_login(
        &grant.user_id,
        &grant.org_id,
        "OauthRefreshToken",
        ip,
        "Success",
        &cid,
    );
    let grant = g.grants[&gid].clone();
    let id_token = g.config.settings.id_token_on_refresh;
    Ok(token_body(
        g,
        shared,
        &grant,
        &Answer {
            access: &access,
            refresh: new_rt.as_deref(),
            key: accepted.key.as_deref(),
            id_token,
            nonce: None,
        },
    ))
}
