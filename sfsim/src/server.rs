//! The router, the first `/_sim/` control calls (the rest are in `control`), latency, and the
//! client address.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use rand::Rng;
use serde::Deserialize;

use crate::config::{AppInstall, Faults};
use crate::state::Shared;

type S = State<Arc<Shared>>;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/services/oauth2/authorize",
            get(|State(s): S, Query(q): Query<HashMap<String, String>>| {
                crate::pages::authorize(s, q)
            }),
        )
        .route(
            "/services/oauth2/authorize/login",
            post(|State(s): S, Form(f): Form<HashMap<String, String>>| crate::pages::login(s, f)),
        )
        .route(
            "/services/oauth2/authorize/consent",
            post(|State(s): S, Form(f): Form<HashMap<String, String>>| crate::pages::consent(s, f)),
        )
        .route("/services/oauth2/token", post(token))
        .route(
            "/services/oauth2/revoke",
            post(|State(s): S, Form(f): Form<HashMap<String, String>>| crate::token::revoke(s, f)),
        )
        .route(
            "/services/oauth2/userinfo",
            get(|State(s): S, h: HeaderMap| crate::rest::userinfo(s, h)),
        )
        .route(
            "/id/{org}/{user}",
            get(
                |State(s): S, Path((o, u)): Path<(String, String)>, h: HeaderMap| {
                    crate::rest::identity(s, o, u, h)
                },
            ),
        )
        .route(
            "/.well-known/openid-configuration",
            get(|State(s): S| crate::rest::discovery(s)),
        )
        .route(
            "/services/data/{version}/limits",
            get(|State(s): S, h: HeaderMap| crate::rest::limits(s, h)),
        )
        .route(
            "/services/data/{version}/limits/",
            get(|State(s): S, h: HeaderMap| crate::rest::limits(s, h)),
        )
        .route("/id/keys", get(|State(s): S| crate::rest::keys(s)))
        .route("/services/data/{version}/query", get(data_query))
        .route("/services/data/{version}/query/", get(data_query))
        .route("/services/data/{version}/query/{locator}", get(data_more))
        .route("/services/data/{version}/tooling/query", get(tooling_query))
        .route(
            "/services/data/{version}/tooling/query/",
            get(tooling_query),
        )
        .route(
            "/services/data/{version}/tooling/query/{locator}",
            get(tooling_more),
        )
        .route(
            "/_sim/stats",
            get(|State(s): S| async move { Json(s.stats()) }),
        )
        .route(
            "/_sim/config",
            get(|State(s): S| async move { s.config().to_toml() }),
        )
        .route("/_sim/faults", put(set_faults))
        .route("/_sim/clock/advance", post(advance))
        .route("/_sim/users/{username}/revoke-grants", post(revoke_user))
        .route(
            "/_sim/users/{username}/freeze",
            post(|State(s): S, Path(u): Path<String>| async move { frozen(&s, &u, true) }),
        )
        .route(
            "/_sim/users/{username}/unfreeze",
            post(|State(s): S, Path(u): Path<String>| async move { frozen(&s, &u, false) }),
        )
        .route("/_sim/orgs/{org}/apps/{client_id}", put(app_state))
        .route(
            "/_sim/orgs/{org}/lock",
            post(|State(s): S, Path(o): Path<String>| async move { locked(&s, &o, true) }),
        )
        .route(
            "/_sim/orgs/{org}/unlock",
            post(|State(s): S, Path(o): Path<String>| async move { locked(&s, &o, false) }),
        )
        .merge(crate::control::router())
        .with_state(shared)
}

type Params = Query<HashMap<String, String>>;

async fn data_query(
    State(s): S,
    Path(v): Path<String>,
    h: HeaderMap,
    Query(q): Params,
) -> Response {
    crate::query::query(s, v, h, q, false).await
}

async fn tooling_query(
    State(s): S,
    Path(v): Path<String>,
    h: HeaderMap,
    Query(q): Params,
) -> Response {
    crate::query::query(s, v, h, q, true).await
}

async fn data_more(State(s): S, Path((v, l)): Path<(String, String)>, h: HeaderMap) -> Response {
    crate::query::query_more(s, v, l, h, false).await
}

async fn tooling_more(State(s): S, Path((v, l)): Path<(String, String)>, h: HeaderMap) -> Response {
    crate::query::query_more(s, v, l, h, true).await
}

/// The client address: the socket peer, or `X-Forwarded-For` when the settings trust it.
pub fn client_ip(shared: &Shared, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    let trusted = shared.lock().config.settings.trust_forwarded_for;
    if trusted
        && let Some(ip) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok())
    {
        return ip;
    }
    peer.ip()
}

async fn token(
    State(s): S,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let ip = client_ip(&s, peer, &headers);
    crate::token::token(s, ip, headers, f).await
}

/// The configured latency (fixed plus uniform jitter), applied to every OAuth and REST answer.
pub async fn delay(shared: &Shared) {
    let (fixed, jitter) = {
        let g = shared.lock();
        (g.config.faults.latency, g.config.faults.jitter)
    };
    let mut d = fixed.unwrap_or_default();
    if let Some(j) = jitter.filter(|j| !j.is_zero()) {
        d += Duration::from_micros(rand::thread_rng().gen_range(0..=j.as_micros() as u64));
    }
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}

async fn set_faults(State(s): S, Json(f): Json<Faults>) -> Response {
    for (name, rate) in [
        ("error_rate", f.error_rate),
        ("hang_rate", f.hang_rate),
        ("drop_after_rotate_rate", f.drop_after_rotate_rate),
        ("rate_limit_rate", f.rate_limit_rate),
    ] {
        if !(0.0..=1.0).contains(&rate) {
            return (
                StatusCode::BAD_REQUEST,
                format!("{name} must be between 0 and 1"),
            )
                .into_response();
        }
    }
    s.set_faults(f);
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    /// A human duration such as `5d` or `90s`.
    by: String,
}

async fn advance(State(s): S, Json(a): Json<Advance>) -> Response {
    match humantime::parse_duration(&a.by) {
        Ok(d) => {
            s.advance_clock(d);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, format!("by: {e}")).into_response(),
    }
}

async fn revoke_user(State(s): S, Path(u): Path<String>) -> Response {
    Json(serde_json::json!({ "revoked_grants": s.revoke_user_grants(&u) })).into_response()
}

fn frozen(s: &Shared, u: &str, f: bool) -> Response {
    if s.set_frozen(u, f) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        (StatusCode::NOT_FOUND, "no such user").into_response()
    }
}

fn locked(s: &Shared, org: &str, l: bool) -> Response {
    if s.set_org_locked(org, l) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        (StatusCode::NOT_FOUND, "no such org").into_response()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppStateBody {
    state: AppInstall,
}

async fn app_state(
    State(s): S,
    Path((org, client)): Path<(String, String)>,
    Json(b): Json<AppStateBody>,
) -> Response {
    s.set_app_state(&org, &client, b.state);
    StatusCode::NO_CONTENT.into_response()
}
