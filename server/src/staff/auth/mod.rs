//! Staff sign-in: password, then (first time) a new password and TOTP enrollment with recovery
//! codes, else a TOTP or recovery code; lockout and per-address rate limiting; session id
//! cycled at each privilege change; sign-out.

mod client;
mod password;
mod totp;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use domain::entity::staff_user;
use domain::staff::{self, PasswordCheck};
use http::StatusCode;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::AppState;
use crate::error::AppError;
use crate::pages::render;
use crate::security::{csrf_token, redirect};
use crate::staff::FormData;

pub(crate) use client::{ClientIp, RateLimiter, rate_limiter};
pub(crate) use password::{change_password, password_page};
pub(crate) use totp::{enroll, enroll_page, second_factor, second_factor_page};

const SIGNED_IN_KEY: &str = "staff.signed_in";
const PENDING_KEY: &str = "staff.pending";
/// A signed-in session ends after this long, however active (tower-sessions also ends it after
/// two idle hours).
const MAX_SESSION: chrono::Duration = chrono::Duration::hours(12);
/// Between the password and the second factor.
const MAX_PENDING: chrono::Duration = chrono::Duration::minutes(10);

#[derive(Debug, Serialize, Deserialize)]
struct SignedIn {
    user_id: i64,
    at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Stage {
    ChangePassword,
    Enroll,
    SecondFactor,
}

#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    user_id: i64,
    stage: Stage,
    /// The TOTP secret being enrolled (base32), until the first code confirms it.
    secret: Option<String>,
    started_at: DateTime<Utc>,
    next: Option<String>,
}

/// The signed-in, enabled staff user of this session, if any.
pub(crate) async fn signed_in_user(
    state: &AppState,
    session: &Session,
    now: DateTime<Utc>,
) -> Result<Option<staff_user::Model>, domain::Error> {
    let s: Option<SignedIn> = session
        .get(SIGNED_IN_KEY)
        .await
        .map_err(|e| domain::Error::Invalid(format!("session: {e}")))?;
    let Some(s) = s else { return Ok(None) };
    if now - s.at > MAX_SESSION {
        let _ = session.flush().await;
        return Ok(None);
    }
    let user = staff::get(&state.db, s.user_id).await?;
    Ok(user.filter(|u| u.disabled_at.is_none()))
}

fn locked_page(until: DateTime<Utc>) -> Response {
    AppError::new(
        StatusCode::FORBIDDEN,
        "locked",
        format!(
            "Too many failed attempts. Try again after {}, or ask an admin to reset it.",
            crate::staff::view::when(&until)
        ),
    )
    .into_response()
}

fn too_many() -> Response {
    AppError::coded(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").into_response()
}

/// Only relative targets inside the dashboard.
fn safe_next(next: Option<&str>) -> Option<String> {
    crate::security::local_path(next?).map(str::to_owned)
}

#[derive(Template)]
#[template(path = "staff/login.html")]
struct LoginPage {
    partner: String,
    csrf: String,
    email: String,
    next: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct NextQuery {
    next: Option<String>,
}

pub(crate) async fn login_page(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<NextQuery>,
) -> Result<Response, AppError> {
    if signed_in_user(&state, &session, state.clock.now())
        .await?
        .is_some()
    {
        return Ok(redirect("/"));
    }
    let csrf = csrf_token(&session).await?;
    let next = safe_next(q.next.as_deref()).unwrap_or_default();
    Ok(render(
        StatusCode::OK,
        &login_form(&state, csrf, String::new(), next, None),
    ))
}

/// Why a password check refused, as the sign-in page says it.
fn refusal(check: &PasswordCheck) -> String {
    match check {
        PasswordCheck::Locked { until } => format!(
            "This account is locked after repeated failures until {}. Try again then, or ask an admin to reset it.",
            crate::staff::view::when(until)
        ),
        PasswordCheck::Accepted(_) | PasswordCheck::Rejected | PasswordCheck::Disabled => {
            "That email and password do not match.".into()
        }
    }
}

/// The sign-in form, filled in with what was last tried and why it was refused, if it was.
fn login_form(
    state: &AppState,
    csrf: String,
    email: String,
    next: String,
    error: Option<String>,
) -> LoginPage {
    LoginPage {
        partner: state.config.partner.name.clone(),
        csrf,
        email,
        next,
        error,
    }
}

/// The first step after the password: a new password when one is due, then the second factor.
fn first_stage(user: &staff_user::Model) -> Stage {
    if user.must_change_password {
        Stage::ChangePassword
    } else {
        after_password(user)
    }
}

/// The step after a password: enrolling a second factor the first time, else using it.
fn after_password(user: &staff_user::Model) -> Stage {
    if user.totp_enrolled_at.is_none() {
        Stage::Enroll
    } else {
        Stage::SecondFactor
    }
}

pub(crate) async fn login(
    State(state): State<AppState>,
    session: Session,
    ClientIp(ip): ClientIp,
    form: FormData,
) -> Result<Response, AppError> {
    if state.sign_in_limiter.check_key(&ip).is_err() {
        return Ok(too_many());
    }
    let now = state.clock.now();
    let email = form.get("email").unwrap_or_default().to_owned();
    let password = SecretString::from(form.get("password").unwrap_or_default().to_owned());
    let next = safe_next(form.get("next"));
    let csrf = csrf_token(&session).await?;
    let user = match staff::check_password(&state.db, &email, &password, now).await? {
        PasswordCheck::Accepted(u) => *u,
        refused => {
            let error = Some(refusal(&refused));
            let page = login_form(&state, csrf, email, next.unwrap_or_default(), error);
            return Ok(render(StatusCode::UNAUTHORIZED, &page));
        }
    };
    let stage = first_stage(&user);
    // A new session id at each step up in privilege.
    session.cycle_id().await?;
    let pending = Pending {
        user_id: user.id,
        stage,
        secret: None,
        started_at: now,
        next,
    };
    session.insert(PENDING_KEY, pending).await?;
    Ok(redirect(stage_path(stage)))
}

fn stage_path(s: Stage) -> &'static str {
    match s {
        Stage::ChangePassword => "/login/password",
        Stage::Enroll => "/login/enroll",
        Stage::SecondFactor => "/login/second-factor",
    }
}

/// The pending sign-in at `stage` and its user, or a redirect back to the start.
async fn pending(
    state: &AppState,
    session: &Session,
    stage: Stage,
    now: DateTime<Utc>,
) -> Result<Result<(Pending, staff_user::Model), Response>, AppError> {
    let p: Option<Pending> = session.get(PENDING_KEY).await?;
    let restart = || Ok(Err(redirect("/login")));
    let Some(p) = p else { return restart() };
    if now - p.started_at > MAX_PENDING {
        session.remove::<Pending>(PENDING_KEY).await?;
        return restart();
    }
    if p.stage != stage {
        return Ok(Err(redirect(stage_path(p.stage))));
    }
    let Some(user) = staff::get(&state.db, p.user_id)
        .await?
        .filter(|u| u.disabled_at.is_none())
    else {
        return restart();
    };
    if let Some(until) = staff::locked(&user, now) {
        session.remove::<Pending>(PENDING_KEY).await?;
        return Ok(Err(locked_page(until)));
    }
    Ok(Ok((p, user)))
}

/// Both factors passed: a fresh session id and a fresh CSRF token for the signed-in session.
async fn complete(
    state: &AppState,
    session: &Session,
    user: &staff_user::Model,
    factor: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    staff::signed_in(&state.db, user, factor, now).await?;
    session.cycle_id().await?;
    session.remove::<Pending>(PENDING_KEY).await?;
    session.remove::<String>(crate::security::CSRF_KEY).await?;
    session
        .insert(
            SIGNED_IN_KEY,
            SignedIn {
                user_id: user.id,
                at: now,
            },
        )
        .await?;
    Ok(())
}

pub(crate) async fn logout(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, AppError> {
    let now = state.clock.now();
    if let Some(user) = signed_in_user(&state, &session, now).await? {
        domain::events::record(
            &state.db,
            now,
            &domain::events::Actor::Staff(user.email),
            None,
            "staff.signed_out",
            serde_json::json!({}),
        )
        .await?;
    }
    session.flush().await?;
    Ok(redirect("/login"))
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_accepts_only_paths_on_this_origin() {
        for ok in [
            "/",
            "/orgs?state=pending",
            "/orgs/00D4c0000008cs2EAA",
            "/https://x",
        ] {
            assert_eq!(safe_next(Some(ok)).as_deref(), Some(ok), "{ok}");
        }
        for bad in [
            "//evil.com",
            "/\tevil.com",
            "/\t/evil.com",
            "/\n/evil.com",
            "\\\\evil.com",
            "/\\evil.com",
            "https://evil.com",
            "https:evil.com",
            "https:/evil.com",
            " /evil",
            "evil.com",
            "javascript:alert(1)",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), None, "{bad:?}");
        }
    }
}
