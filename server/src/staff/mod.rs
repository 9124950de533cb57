//! The staff dashboard: sign-in with a second factor, the overview, orgs, waves, events, bulk
//! jobs and administration. Two guards wrap every route, so no handler can forget them:
//!
//! - [`csrf_guard`] refuses any state-changing request whose form (or `x-csrf-token` header)
//!   does not carry the session's CSRF token, before a handler runs; it also parses the form
//!   once and hands it to the handler as [`FormData`];
//! - [`require`] loads the signed-in staff user on every request (so disabling a user or
//!   changing a role takes effect at once) and refuses roles below the route group's.

mod admin;
mod auth;
mod bulk;
mod charts;
mod compliance;
mod events;
mod incident;
mod legacy;
mod orgs;
mod overview;
mod security;
mod view;
mod waves;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use domain::entity::staff_user;
use domain::staff::Role;
use http::{Method, StatusCode};
use tower_sessions::Session;

use crate::AppState;
use crate::error::AppError;
use crate::security::{csrf_ok, csrf_token, redirect};

pub(crate) use auth::{RateLimiter, rate_limiter};
pub(crate) use view::Nav;

/// The largest form the dashboard accepts (a bulk selection of a few thousand org ids fits).
const MAX_FORM_BYTES: usize = 1024 * 1024;

/// Every state-changing route of the dashboard and the least role it needs. Tests walk this
/// list to prove each one refuses a lower role and a request without the CSRF token.
pub const STATE_CHANGING_ROUTES: &[(&str, Role)] = &[
    ("/orgs/bulk", Role::Operator),
    ("/orgs/bulk/run", Role::Operator),
    ("/orgs/{org_id}/links", Role::Operator),
    ("/orgs/{org_id}/notes", Role::Operator),
    ("/orgs/{org_id}/notices", Role::Operator),
    ("/orgs/{org_id}/connections/{id}/verify", Role::Operator),
    ("/orgs/{org_id}/connections/{id}/revoke", Role::Operator),
    ("/orgs/{org_id}/legacy/accept", Role::Operator),
    ("/orgs/{org_id}/legacy/retire", Role::Operator),
    ("/waves/{name}/paused", Role::Operator),
    ("/alerts/{id}/acknowledge", Role::Operator),
    ("/jobs/{id}/cancel", Role::Operator),
    ("/admin/staff", Role::Admin),
    ("/admin/staff/{id}", Role::Admin),
    ("/admin/api-keys", Role::Admin),
    ("/admin/api-keys/{id}/revoke", Role::Admin),
    ("/incident/resume", Role::Admin),
    ("/incident/start", Role::Admin),
    ("/incident/close", Role::Admin),
];

pub(crate) fn router(state: &AppState) -> Router<AppState> {
    let viewer = Router::new()
        .route("/", get(overview::page))
        .route("/orgs", get(orgs::list))
        .route("/orgs.csv", get(orgs::csv))
        .route("/orgs-report.csv", get(orgs::report_csv))
        .route("/orgs/{org_id}", get(orgs::page))
        .route("/waves", get(waves::page))
        .route("/legacy", get(legacy::page))
        .route("/events", get(events::page))
        .route("/security", get(security::page))
        .route("/incident", get(incident::page))
        .route("/compliance", get(compliance::page))
        .route("/events.csv", get(events::csv))
        .route("/jobs", get(bulk::list))
        .route("/jobs/{id}", get(bulk::page))
        .route_layer(from_fn_with_state(state.clone(), require_viewer));
    let operator = Router::new()
        .route("/orgs/bulk", post(bulk::confirm))
        .route("/orgs/bulk/run", post(bulk::submit))
        .route("/orgs/{org_id}/links", post(orgs::new_link))
        .route("/orgs/{org_id}/links/new", get(orgs::created_link))
        .route("/orgs/{org_id}/links/sent", get(orgs::sent_link))
        .route("/orgs/{org_id}/notes", post(orgs::add_note))
        .route("/orgs/{org_id}/notices", post(orgs::set_notices))
        .route(
            "/orgs/{org_id}/connections/{id}/verify",
            post(orgs::retry_verification),
        )
        .route("/orgs/{org_id}/connections/{id}/revoke", post(orgs::revoke))
        .route("/orgs/{org_id}/legacy/accept", post(legacy::accept))
        .route("/orgs/{org_id}/legacy/retire", post(legacy::retire_now))
        .route("/waves/{name}/paused", post(waves::set_paused))
        .route("/alerts/{id}/acknowledge", post(overview::acknowledge))
        .route("/jobs/{id}/cancel", post(bulk::cancel))
        .route_layer(from_fn_with_state(state.clone(), require_operator));
    let admin = Router::new()
        .route("/admin/staff", get(admin::staff).post(admin::add_staff))
        .route("/admin/staff/{id}", post(admin::change_staff))
        .route(
            "/admin/api-keys",
            get(admin::api_keys).post(admin::create_api_key),
        )
        .route("/admin/api-keys/{id}/revoke", post(admin::revoke_api_key))
        .route("/admin/settings", get(admin::settings))
        .route("/incident/resume", post(incident::resume))
        .route("/incident/start", post(incident::start))
        .route("/incident/close", post(incident::close))
        .route_layer(from_fn_with_state(state.clone(), require_admin));
    let sign_in = Router::new()
        .route("/login", get(auth::login_page).post(auth::login))
        .route(
            "/login/password",
            get(auth::password_page).post(auth::change_password),
        )
        .route("/login/enroll", get(auth::enroll_page).post(auth::enroll))
        .route(
            "/login/second-factor",
            get(auth::second_factor_page).post(auth::second_factor),
        )
        .route("/logout", post(auth::logout));
    viewer
        .merge(operator)
        .merge(admin)
        .merge(sign_in)
        .layer(from_fn(csrf_guard))
        .layer(from_fn_with_state(state.clone(), forget_overview))
}

/// After any state-changing request, the shared overview is computed again, so a staff user
/// sees their own change at once (changes made by the worker show within its maximum age).
async fn forget_overview(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let res = next.run(req).await;
    if changes {
        state.overview.invalidate();
    }
    res
}

/// A parsed `application/x-www-form-urlencoded` body; keys may repeat (checkbox lists).
#[derive(Clone, Debug, Default)]
pub(crate) struct FormData(Vec<(String, String)>);

impl FormData {
    fn parse(body: &[u8]) -> Self {
        Self(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value for `key`, trimmed; `None` when absent or blank.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// A `true`/`false` field, or a clear error naming it.
    pub(crate) fn bool(&self, key: &str) -> Result<bool, AppError> {
        match self.get(key) {
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            _ => Err(AppError::bad_request(format!(
                "{key} must be true or false"
            ))),
        }
    }

    /// Every non-blank value for `key`.
    pub(crate) fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == key && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for FormData {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<Self>().cloned().unwrap_or_default())
    }
}

/// Refuses state-changing requests without the session's CSRF token; parses the form once.
async fn csrf_guard(session: Session, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let bytes: Bytes = match axum::body::to_bytes(body, MAX_FORM_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return AppError::coded(StatusCode::PAYLOAD_TOO_LARGE, "form_too_large")
                .into_response();
        }
    };
    let form = FormData::parse(&bytes);
    let submitted = parts
        .headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| form.get("csrf").map(str::to_owned))
        .unwrap_or_default();
    if !csrf_ok(&session, &submitted).await {
        tracing::warn!(path = %parts.uri.path(), "refused a form without a valid CSRF token");
        return AppError::coded(StatusCode::FORBIDDEN, "form_expired").into_response();
    }
    parts.extensions.insert(form);
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// The signed-in staff user, for handlers (inserted by [`require`]).
#[derive(Clone, Debug)]
pub(crate) struct CurrentStaff {
    pub user: staff_user::Model,
    pub role: Role,
    pub csrf: String,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for CurrentStaff {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Self>().cloned().ok_or_else(|| {
            AppError::internal("a dashboard handler ran outside `require`").into_response()
        })
    }
}

impl CurrentStaff {
    pub(crate) fn actor(&self) -> domain::events::Actor {
        domain::events::Actor::Staff(self.user.email.clone())
    }

    pub(crate) fn can(&self, role: Role) -> bool {
        self.role >= role
    }
}

async fn require_viewer(
    State(s): State<AppState>,
    session: Session,
    req: Request,
    next: Next,
) -> Response {
    require(s, session, req, next, Role::Viewer).await
}

async fn require_operator(
    State(s): State<AppState>,
    session: Session,
    req: Request,
    next: Next,
) -> Response {
    require(s, session, req, next, Role::Operator).await
}

async fn require_admin(
    State(s): State<AppState>,
    session: Session,
    req: Request,
    next: Next,
) -> Response {
    require(s, session, req, next, Role::Admin).await
}

/// To the sign-in page; a GET of any page but the overview comes back to it afterwards.
fn to_login(req: &Request) -> Response {
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    let next_param = if req.method() == Method::GET && target != "/" {
        format!(
            "?next={}",
            url::form_urlencoded::byte_serialize(target.as_bytes()).collect::<String>()
        )
    } else {
        String::new()
    };
    redirect(&format!("/login{next_param}"))
}

/// The refusal of a signed-in user whose role is below the route's `role`.
fn below_role(staff: &CurrentStaff, role: Role) -> Response {
    AppError::new(
        StatusCode::FORBIDDEN,
        "role",
        format!(
            "You are signed in as {} ({}); this needs the {} role. Nothing was changed.",
            staff.user.email,
            staff.role.as_str(),
            role.as_str()
        ),
    )
    .into_response()
}

/// Lets the request through only for a signed-in, enabled staff user with at least `role`.
async fn require(
    state: AppState,
    session: Session,
    mut req: Request,
    next: Next,
    role: Role,
) -> Response {
    let now = state.clock.now();
    let user = match auth::signed_in_user(&state, &session, now).await {
        Ok(Some(u)) => u,
        Ok(None) => return to_login(&req),
        Err(e) => {
            return AppError::internal(format_args!("loading the signed-in staff user: {e}"))
                .into_response();
        }
    };
    // A stored role the code does not know cannot be read at all: the load above fails.
    let user_role = user.role;
    let csrf = match csrf_token(&session).await {
        Ok(t) => t,
        Err(e) => return AppError::from(e).into_response(),
    };
    let staff = CurrentStaff {
        user,
        role: user_role,
        csrf,
    };
    let nav = Nav::new(&state, &staff, "");
    let mut res = if user_role < role {
        below_role(&staff, role)
    } else {
        req.extensions_mut().insert(staff);
        next.run(req).await
    };
    // An error page made from this response shows the signed-in user's navigation.
    if res.extensions().get::<AppError>().is_some() {
        res.extensions_mut().insert(nav);
    }
    res
}
