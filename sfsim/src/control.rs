//! The `/_sim/` calls that act on grants and clients: minting a grant without the browser flow,
//! listing grants, revoking a share of them, playing a thief, changing a client's secret, the
//! installed packages of an org, and an IP echo.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::config::InstalledPackage;
use crate::state::{Grant, GrantInfo, GrantOrigin, Inner, RevokeReason, Shared};
use crate::token::{Answer, CONCURRENT, RefreshCtx, refresh_locked, token_body};

type S = State<Arc<Shared>>;

/// Why a control call could not do what it was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("no such client: {0}")]
    UnknownClient(String),
    #[error("no such user: {0}")]
    UnknownUser(String),
    #[error("no such org: {0}")]
    UnknownOrg(String),
    #[error("no such grant: {0}")]
    UnknownGrant(u64),
    #[error("no live grant with a refresh token matches")]
    NoLiveGrant,
    #[error("{0}")]
    Invalid(String),
}

impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        let status = match self {
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::NoLiveGrant => StatusCode::CONFLICT,
            _ => StatusCode::NOT_FOUND,
        };
        (status, Json(json!({ "error": self.to_string() }))).into_response()
    }
}

fn default_scopes() -> Vec<String> {
    vec!["api".into(), "refresh_token".into()]
}

/// `POST /_sim/grants`: a grant as if the user had approved the client long ago (a token the
/// partner already holds).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MintGrant {
    pub client_id: String,
    pub username: String,
    /// Default `["api", "refresh_token"]`; without `refresh_token`/`offline_access` no refresh
    /// token is issued.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
}

impl MintGrant {
    pub fn new(client_id: &str, username: &str, scopes: &[&str]) -> Self {
        Self {
            client_id: client_id.into(),
            username: username.into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

/// What `POST /_sim/grants` answers (the token answer's main fields and the grant's id).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MintedGrant {
    pub grant_id: u64,
    pub refresh_token: Option<String>,
    pub access_token: String,
    pub instance_url: String,
    pub id: String,
}

/// Mints a grant; returns its id and the full token answer.
pub fn mint(shared: &Shared, m: &MintGrant) -> Result<(u64, serde_json::Value), SimError> {
    let mut g = shared.lock();
    let client = g
        .client(&m.client_id)
        .cloned()
        .ok_or_else(|| SimError::UnknownClient(m.client_id.clone()))?;
    let user = g
        .user_by_name(&m.username)
        .cloned()
        .ok_or_else(|| SimError::UnknownUser(m.username.clone()))?;
    g.make_room_for_approval(&user.id, &client.client_id);
    let now = g.now();
    let gid = g.insert_grant(Grant::new(
        &client.client_id,
        &user.org_id,
        &user.id,
        m.scopes.clone(),
        now,
        &shared.base_url,
        GrantOrigin::Minted,
    ));
    let access = g.mint_access(gid, &user.org_id);
    let wants_refresh = client.issue_refresh_token
        && m.scopes
            .iter()
            .any(|s| s == "refresh_token" || s == "offline_access");
    let refresh = wants_refresh.then(|| g.mint_refresh(gid));
    g.stats.grants_minted += 1;
    let grant = g.grants[&gid].clone();
    let mut body = token_body(
        &g,
        shared,
        &grant,
        &Answer {
            access: &access,
            refresh: refresh.as_deref(),
            key: client.client_secret.as_deref(),
            id_token: true,
            nonce: None,
        },
    );
    body["grant_id"] = json!(gid);
    Ok((gid, body))
}

/// `POST /_sim/grants/revoke`: revoke a share or a number of the live grants at random.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct MassRevoke {
    /// 0–1: this share of the matching live grants (rounded to the nearest whole grant).
    pub share: Option<f64>,
    /// Or exactly this many (at most all of them).
    pub count: Option<usize>,
    /// Only grants of this client.
    pub client_id: Option<String>,
    /// Only grants in this org.
    pub org_id: Option<String>,
}

/// Revokes grants as `MassRevoke` says (reason `admin`); returns how many.
pub fn mass_revoke(shared: &Shared, m: &MassRevoke) -> Result<usize, SimError> {
    let org = m.org_id.as_deref().map(crate::ids::norm18);
    let mut g = shared.lock();
    let mut live: Vec<u64> = g
        .grants
        .iter()
        .filter(|(_, gr)| {
            !gr.revoked
                && m.client_id.as_ref().is_none_or(|c| &gr.client_id == c)
                && org.as_ref().is_none_or(|o| &gr.org_id == o)
        })
        .map(|(id, _)| *id)
        .collect();
    let n = match (m.share, m.count) {
        (Some(s), None) if (0.0..=1.0).contains(&s) => (s * live.len() as f64).round() as usize,
        (None, Some(c)) => c.min(live.len()),
        (Some(_), None) => return Err(SimError::Invalid("share must be between 0 and 1".into())),
        _ => {
            return Err(SimError::Invalid(
                "give exactly one of share and count".into(),
            ));
        }
    };
    live.sort_unstable();
    live.shuffle(&mut rand::thread_rng());
    for id in live.iter().take(n) {
        g.revoke_grant(*id, RevokeReason::Admin);
    }
    Ok(n)
}

/// `POST /_sim/steal`: a thief presents a grant's current refresh token.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct Steal {
    /// The grant whose token is stolen; or the newest live grant of `username`, or of any user
    /// of `org_id` (each optionally narrowed to `client_id`).
    pub grant_id: Option<u64>,
    pub username: Option<String>,
    pub org_id: Option<String>,
    pub client_id: Option<String>,
    /// Send the client's current secret too (default: the thief has only the token).
    #[serde(default)]
    pub with_secret: bool,
    /// Send this secret instead (a guess).
    pub secret: Option<String>,
    /// The thief's address (default `198.51.100.7`).
    pub from_ip: Option<IpAddr>,
}

/// What happened to a `/_sim/steal` attempt.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StealOutcome {
    pub grant_id: u64,
    pub client_id: String,
    pub user_id: String,
    pub username: String,
    pub source_ip: String,
    /// The thief got new tokens (and, with rotation, the owner's token is now rotated out).
    pub refreshed: bool,
    /// The HTTP status the thief saw.
    pub status: u16,
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// The `Status` of the `LoginHistory` row the attempt wrote (none for some refusals).
    pub login_status: Option<String>,
    pub refresh_token: Option<String>,
    pub access_token: Option<String>,
}

/// The grant a `Steal` targets.
fn target(g: &Inner, s: &Steal) -> Result<u64, SimError> {
    if let Some(id) = s.grant_id {
        let gr = g.grants.get(&id).ok_or(SimError::UnknownGrant(id))?;
        return if !gr.revoked && gr.current_rt.is_some() {
            Ok(id)
        } else {
            Err(SimError::NoLiveGrant)
        };
    }
    let user = match &s.username {
        Some(u) => Some(
            g.user_by_name(u)
                .map(|u| u.id.clone())
                .ok_or_else(|| SimError::UnknownUser(u.clone()))?,
        ),
        None => None,
    };
    let org = s.org_id.as_deref().map(crate::ids::norm18);
    if let Some(o) = &org
        && g.org(o).is_none()
    {
        return Err(SimError::UnknownOrg(o.clone()));
    }
    if user.is_none() && org.is_none() {
        return Err(SimError::Invalid(
            "give grant_id, username or org_id".into(),
        ));
    }
    g.grants
        .iter()
        .filter(|(_, gr)| {
            !gr.revoked
                && gr.current_rt.is_some()
                && user.as_ref().is_none_or(|u| &gr.user_id == u)
                && org.as_ref().is_none_or(|o| &gr.org_id == o)
                && s.client_id.as_ref().is_none_or(|c| &gr.client_id == c)
        })
        .max_by_key(|(id, gr)| (gr.created, **id))
        .map(|(id, _)| *id)
        .ok_or(SimError::NoLiveGrant)
}

/// Plays the thief: one refresh exactly as a real one, from `from_ip`, with or without a secret.
pub fn steal(shared: &Shared, s: &Steal) -> Result<StealOutcome, SimError> {
    let mut g = shared.lock();
    let gid = target(&g, s)?;
    g.stats.steal_attempts += 1;
    let gr = g.grants[&gid].clone();
    let rt = gr.current_rt.clone().unwrap_or_default();
    let ip = s
        .from_ip
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 7)));
    let secret = match (&s.secret, s.with_secret) {
        (Some(guess), _) => Some(guess.clone()),
        (None, true) => g
            .client(&gr.client_id)
            .and_then(|c| c.client_secret.clone()),
        (None, false) => None,
    };
    let rows_before = g.logins_base + g.logins.len() as u64;
    let result = if g.in_flight.contains(&rt) {
        // The owner is refreshing this very token right now.
        crate::token::record_for_token(
            &mut g,
            &rt,
            ip,
            "Failed: Token request is already being processed",
        );
        Err(crate::token::Refusal::grant(CONCURRENT))
    } else {
        let ctx = RefreshCtx {
            ip,
            client_id: Some(gr.client_id.clone()),
            secret,
            drop_answer: false,
            thief: true,
        };
        refresh_locked(&mut g, shared, &ctx, &rt)
    };
    let wrote = g.logins_base + g.logins.len() as u64 > rows_before;
    let login_status = wrote
        .then(|| g.logins.back().map(|r| r.status.clone()))
        .flatten();
    let username = g
        .user_by_id(&gr.user_id)
        .map(|u| u.username.clone())
        .unwrap_or_default();
    let mut out = StealOutcome {
        grant_id: gid,
        client_id: gr.client_id.clone(),
        user_id: gr.user_id.clone(),
        username,
        source_ip: ip.to_string(),
        refreshed: false,
        status: 200,
        error: None,
        error_description: None,
        login_status,
        refresh_token: None,
        access_token: None,
    };
    match result {
        Ok(body) => {
            g.stats.steal_ok += 1;
            out.refreshed = true;
            out.refresh_token = body["refresh_token"].as_str().map(str::to_owned);
            out.access_token = body["access_token"].as_str().map(str::to_owned);
        }
        Err(r) => {
            out.status = r.status;
            out.error = Some(r.error);
            out.error_description = Some(r.description);
        }
    }
    Ok(out)
}

/// `PUT /_sim/clients/{client_id}/secret`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SetSecret {
    pub secret: String,
    /// Keep accepting the current secret as the previous one (a staged rotation).
    #[serde(default)]
    pub keep_old: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantFilter {
    client_id: Option<String>,
    org_id: Option<String>,
    username: Option<String>,
    /// `true`: only live grants; `false`: only revoked ones.
    live: Option<bool>,
}

/// The grants matching a filter, by id.
fn list(shared: &Shared, f: &GrantFilter) -> Vec<GrantInfo> {
    let org = f.org_id.as_deref().map(crate::ids::norm18);
    shared
        .grants()
        .into_iter()
        .filter(|i| {
            f.client_id.as_ref().is_none_or(|c| &i.client_id == c)
                && org.as_ref().is_none_or(|o| &i.org_id == o)
                && f.username.as_ref().is_none_or(|u| &i.username == u)
                && f.live.is_none_or(|l| l != i.revoked)
        })
        .collect()
}

pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/_sim/grants",
            get(
                |State(s): S, Query(f): Query<GrantFilter>| async move { Json(list(&s, &f)) },
            )
            .post(|State(s): S, Json(m): Json<MintGrant>| async move {
                match mint(&s, &m) {
                    Ok((_, body)) => Json(body).into_response(),
                    Err(e) => e.into_response(),
                }
            }),
        )
        .route(
            "/_sim/grants/revoke",
            post(|State(s): S, Json(m): Json<MassRevoke>| async move {
                match mass_revoke(&s, &m) {
                    Ok(n) => Json(json!({ "revoked": n })).into_response(),
                    Err(e) => e.into_response(),
                }
            }),
        )
        .route(
            "/_sim/steal",
            post(|State(s): S, Json(b): Json<Steal>| async move {
                match steal(&s, &b) {
                    Ok(o) => Json(o).into_response(),
                    Err(e) => e.into_response(),
                }
            }),
        )
        .route(
            "/_sim/clients/{client_id}/secret",
            put(
                |State(s): S, Path(c): Path<String>, Json(b): Json<SetSecret>| async move {
                    found(s.set_client_secret(&c, &b.secret, b.keep_old), "no such client")
                },
            ),
        )
        .route(
            "/_sim/clients/{client_id}/previous-secret",
            delete(|State(s): S, Path(c): Path<String>| async move {
                found(s.drop_previous_secret(&c), "no such client")
            }),
        )
        .route(
            "/_sim/orgs/{org}/packages",
            put(
                |State(s): S, Path(o): Path<String>, Json(p): Json<Vec<InstalledPackage>>| async move {
                    found(s.set_installed_packages(&o, p), "no such org")
                },
            ),
        )
        .route("/_sim/ip", get(ip_echo))
}

fn found(ok: bool, what: &'static str) -> Response {
    if ok {
        StatusCode::NO_CONTENT.into_response()
    } else {
        (StatusCode::NOT_FOUND, what).into_response()
    }
}

async fn ip_echo(
    State(s): S,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let ip = crate::server::client_ip(&s, peer, &headers);
    Json(json!({ "ip": ip.to_string() })).into_response()
}
