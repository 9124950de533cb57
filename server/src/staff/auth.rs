//! Staff sign-in: password, then (first time) a new password and TOTP enrollment with recovery
//! codes, else a TOTP or recovery code; lockout and per-address rate limiting; session id
//! cycled at each privilege change; sign-out.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;

use askama::Template;
use axum::extract::{ConnectInfo, Query, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use domain::entity::staff_user;
use domain::staff::{self, PasswordCheck};
use http::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use super::FormData;

use crate::AppState;
use crate::error::AppError;
use crate::pages::render;
use crate::security::{csrf_token, redirect};

const SIGNED_IN_KEY: &str = "staff.signed_in";
const PENDING_KEY: &str = "staff.pending";
/// A signed-in session ends after this long, however active (tower-sessions also ends it after
/// two idle hours).
const MAX_SESSION: chrono::Duration = chrono::Duration::hours(12);
/// Between the password and the second factor.
const MAX_PENDING: chrono::Duration = chrono::Duration::minutes(10);
/// Sign-in attempts (any step) per client address per minute: enough for a team behind one
/// address, far too few to guess passwords (and each account locks after five failures).
const ATTEMPTS_PER_MINUTE: u32 = 30;

/// Sign-in attempts per client address.
pub(crate) type RateLimiter = governor::DefaultKeyedRateLimiter<IpAddr>;

pub(crate) fn rate_limiter() -> RateLimiter {
    let per_minute = NonZeroU32::new(ATTEMPTS_PER_MINUTE).unwrap_or(NonZeroU32::MIN);
    governor::RateLimiter::keyed(governor::Quota::per_minute(per_minute))
}

#[derive(Debug, Serialize, Deserialize)]
struct SignedIn {
    user_id: i64,
    at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Stage {
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

/// The client's address: the connection's, or, when that is a configured trusted proxy, the
/// right-most `X-Forwarded-For` address that is not one of them.
pub(crate) struct ClientIp(IpAddr);

impl axum::extract::FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        let forwarded: Vec<&str> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        Ok(Self(client_ip(
            peer,
            &forwarded,
            &state.config.trusted_proxies,
        )))
    }
}

/// Walks `X-Forwarded-For` from the right while the hops are trusted proxies; an unparsable
/// entry stops the walk at the last trusted hop (it cannot be believed).
fn client_ip(peer: IpAddr, forwarded_for: &[&str], trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded_for
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .rev()
    {
        let Ok(ip) = hop.parse::<IpAddr>() else {
            return client;
        };
        client = ip;
        if !is_trusted(&ip) {
            return ip;
        }
    }
    client
}

fn locked_page(until: DateTime<Utc>) -> Response {
    AppError::new(
        StatusCode::FORBIDDEN,
        "locked",
        format!(
            "Too many failed attempts. Try again after {}, or ask an admin to reset it.",
            super::view::when(&until)
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
    Ok(render(
        StatusCode::OK,
        &LoginPage {
            partner: state.config.partner.name.clone(),
            csrf: csrf_token(&session).await?,
            email: String::new(),
            next: safe_next(q.next.as_deref()).unwrap_or_default(),
            error: None,
        },
    ))
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
    let again = |error: String| -> Result<Response, AppError> {
        Ok(render(
            StatusCode::UNAUTHORIZED,
            &LoginPage {
                partner: state.config.partner.name.clone(),
                csrf: csrf.clone(),
                email: email.clone(),
                next: next.clone().unwrap_or_default(),
                error: Some(error),
            },
        ))
    };
    let user = match staff::check_password(&state.db, &email, &password, now).await? {
        PasswordCheck::Accepted(u) => *u,
        PasswordCheck::Rejected | PasswordCheck::Disabled => {
            return again("That email and password do not match.".into());
        }
        PasswordCheck::Locked { until } => {
            return again(format!(
                "This account is locked after repeated failures until {}. Try again then, or ask an admin to reset it.",
                super::view::when(&until)
            ));
        }
    };
    let stage = if user.must_change_password {
        Stage::ChangePassword
    } else if user.totp_enrolled_at.is_none() {
        Stage::Enroll
    } else {
        Stage::SecondFactor
    };
    // A new session id at each step up in privilege.
    session.cycle_id().await?;
    session
        .insert(
            PENDING_KEY,
            Pending {
                user_id: user.id,
                stage,
                secret: None,
                started_at: now,
                next,
            },
        )
        .await?;
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

/// A rate-limited step after the password: the pending sign-in at `stage`, or the response
/// that ends the request (too many attempts, locked, or back to the start).
async fn limited_step(
    state: &AppState,
    session: &Session,
    ip: IpAddr,
    stage: Stage,
    now: DateTime<Utc>,
) -> Result<Result<(Pending, staff_user::Model), Response>, AppError> {
    if state.sign_in_limiter.check_key(&ip).is_err() {
        return Ok(Err(too_many()));
    }
    pending(state, session, stage, now).await
}

#[derive(Template)]
#[template(path = "staff/login_password.html")]
struct PasswordPage {
    partner: String,
    csrf: String,
    email: String,
    min_len: usize,
    error: Option<String>,
}

pub(crate) async fn password_page(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, AppError> {
    let (_, user) =
        match pending(&state, &session, Stage::ChangePassword, state.clock.now()).await? {
            Ok(p) => p,
            Err(r) => return Ok(r),
        };
    Ok(render(
        StatusCode::OK,
        &PasswordPage {
            partner: state.config.partner.name.clone(),
            csrf: csrf_token(&session).await?,
            email: user.email,
            min_len: staff::MIN_PASSWORD_LEN,
            error: None,
        },
    ))
}

pub(crate) async fn change_password(
    State(state): State<AppState>,
    session: Session,
    form: FormData,
) -> Result<Response, AppError> {
    let now = state.clock.now();
    let (mut p, user) = match pending(&state, &session, Stage::ChangePassword, now).await? {
        Ok(p) => p,
        Err(r) => return Ok(r),
    };
    let new = form.get("password").unwrap_or_default();
    let error = if new != form.get("confirm").unwrap_or_default() {
        Some("The two passwords differ.".to_owned())
    } else {
        match staff::change_password(&state.db, &user, &SecretString::from(new.to_owned()), now)
            .await
        {
            Ok(()) => None,
            Err(domain::Error::Invalid(m)) => Some(m),
            Err(e) => return Err(e.into()),
        }
    };
    if let Some(error) = error {
        return Ok(render(
            StatusCode::BAD_REQUEST,
            &PasswordPage {
                partner: state.config.partner.name.clone(),
                csrf: csrf_token(&session).await?,
                email: user.email,
                min_len: staff::MIN_PASSWORD_LEN,
                error: Some(error),
            },
        ));
    }
    p.stage = if user.totp_enrolled_at.is_none() {
        Stage::Enroll
    } else {
        Stage::SecondFactor
    };
    let path = stage_path(p.stage);
    session.insert(PENDING_KEY, p).await?;
    Ok(redirect(path))
}

#[derive(Template)]
#[template(path = "staff/login_enroll.html")]
struct EnrollPage {
    partner: String,
    csrf: String,
    email: String,
    qr_svg: String,
    secret: String,
    error: Option<String>,
}

fn issuer(state: &AppState) -> String {
    format!("reauth ({})", state.config.partner.name)
}

fn enroll_page_for(
    state: &AppState,
    csrf: String,
    user: &staff_user::Model,
    secret: &SecretString,
    error: Option<String>,
) -> Result<EnrollPage, AppError> {
    let t = staff::totp(secret, &issuer(state), &user.email)?;
    let qr = qrcode::QrCode::new(t.get_url().as_bytes())
        .map_err(|e| AppError::internal(format_args!("QR code: {e}")))?;
    let qr_svg = qr
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    Ok(EnrollPage {
        partner: state.config.partner.name.clone(),
        csrf,
        email: user.email.clone(),
        qr_svg,
        secret: secret.expose_secret().to_owned(),
        error,
    })
}

pub(crate) async fn enroll_page(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, AppError> {
    let (mut p, user) = match pending(&state, &session, Stage::Enroll, state.clock.now()).await? {
        Ok(p) => p,
        Err(r) => return Ok(r),
    };
    // Without the keys the secret could not be stored safely.
    state.sealer()?;
    let secret = match &p.secret {
        Some(s) => SecretString::from(s.clone()),
        None => {
            let s = staff::new_totp_secret();
            p.secret = Some(s.expose_secret().to_owned());
            session.insert(PENDING_KEY, &p).await?;
            s
        }
    };
    let csrf = csrf_token(&session).await?;
    Ok(render(
        StatusCode::OK,
        &enroll_page_for(&state, csrf, &user, &secret, None)?,
    ))
}

#[derive(Template)]
#[template(path = "staff/recovery_codes.html")]
struct RecoveryPage {
    partner: String,
    codes: Vec<String>,
    next: String,
}

pub(crate) async fn enroll(
    State(state): State<AppState>,
    session: Session,
    ClientIp(ip): ClientIp,
    form: FormData,
) -> Result<Response, AppError> {
    let now = state.clock.now();
    let (p, user) = match limited_step(&state, &session, ip, Stage::Enroll, now).await? {
        Ok(p) => p,
        Err(r) => return Ok(r),
    };
    let (Some(sealer), Some(secret)) = (&state.sealer, p.secret.clone()) else {
        return Ok(redirect("/login/enroll"));
    };
    let secret = SecretString::from(secret);
    let code = form.get("code").unwrap_or_default();
    match staff::enroll_totp(
        &state.db,
        sealer,
        &user,
        &secret,
        code,
        &issuer(&state),
        now,
    )
    .await?
    {
        Some(codes) => {
            let next = p.next.clone().unwrap_or_else(|| "/".into());
            complete(&state, &session, &user, "totp_enrolled", now).await?;
            Ok(render(
                StatusCode::OK,
                &RecoveryPage {
                    partner: state.config.partner.name.clone(),
                    codes: codes.iter().map(|c| c.expose_secret().to_owned()).collect(),
                    next,
                },
            ))
        }
        None => {
            staff::record_failure(&state.db, &user, "totp_enrollment", now).await?;
            let csrf = csrf_token(&session).await?;
            Ok(render(
                StatusCode::BAD_REQUEST,
                &enroll_page_for(
                    &state,
                    csrf,
                    &user,
                    &secret,
                    Some("That code does not match. Check the time on your phone and enter the current code.".into()),
                )?,
            ))
        }
    }
}

#[derive(Template)]
#[template(path = "staff/login_second.html")]
struct SecondFactorPage {
    partner: String,
    csrf: String,
    email: String,
    error: Option<String>,
}

pub(crate) async fn second_factor_page(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, AppError> {
    let (_, user) = match pending(&state, &session, Stage::SecondFactor, state.clock.now()).await? {
        Ok(p) => p,
        Err(r) => return Ok(r),
    };
    Ok(render(
        StatusCode::OK,
        &SecondFactorPage {
            partner: state.config.partner.name.clone(),
            csrf: csrf_token(&session).await?,
            email: user.email,
            error: None,
        },
    ))
}

pub(crate) async fn second_factor(
    State(state): State<AppState>,
    session: Session,
    ClientIp(ip): ClientIp,
    form: FormData,
) -> Result<Response, AppError> {
    let now = state.clock.now();
    let (p, user) = match limited_step(&state, &session, ip, Stage::SecondFactor, now).await? {
        Ok(p) => p,
        Err(r) => return Ok(r),
    };
    let (ok, factor) = if let Some(code) = form.get("recovery_code") {
        (
            staff::use_recovery_code(&state.db, &user, code, now).await?,
            "recovery_code",
        )
    } else {
        let sealer = state.sealer()?;
        let code = form.get("code").unwrap_or_default();
        (
            staff::check_totp(&state.db, sealer, &user, code, &issuer(&state), now).await?,
            "totp",
        )
    };
    if ok {
        let next = p.next.clone().unwrap_or_else(|| "/".into());
        complete(&state, &session, &user, factor, now).await?;
        return Ok(redirect(&next));
    }
    let locked = staff::record_failure(&state.db, &user, factor, now).await?;
    if let Some(until) = locked {
        session.remove::<Pending>(PENDING_KEY).await?;
        return Ok(locked_page(until));
    }
    Ok(render(
        StatusCode::UNAUTHORIZED,
        &SecondFactorPage {
            partner: state.config.partner.name.clone(),
            csrf: csrf_token(&session).await?,
            email: user.email,
            error: Some(
                "That code does not work. Codes change every 30 seconds and each works once."
                    .into(),
            ),
        },
    ))
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
    use super::{client_ip, safe_next};

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

    fn ip(s: &str) -> std::net::IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let trusted = vec!["10.0.0.0/8".parse().unwrap()];
        // An untrusted peer's header is ignored: anyone can send one.
        assert_eq!(
            client_ip(ip("203.0.113.9"), &["1.2.3.4"], &trusted),
            ip("203.0.113.9")
        );
        // Behind the proxy: the right-most untrusted hop, not a spoofed left-most entry.
        assert_eq!(
            client_ip(
                ip("10.0.0.2"),
                &["6.6.6.6, 198.51.100.7, 10.0.0.5"],
                &trusted
            ),
            ip("198.51.100.7")
        );
        // Several headers are one list.
        assert_eq!(
            client_ip(ip("10.0.0.2"), &["6.6.6.6", "198.51.100.7"], &trusted),
            ip("198.51.100.7")
        );
        // No header, or garbage: the last address that can be believed.
        assert_eq!(client_ip(ip("10.0.0.2"), &[], &trusted), ip("10.0.0.2"));
        assert_eq!(
            client_ip(ip("10.0.0.2"), &["nonsense"], &trusted),
            ip("10.0.0.2")
        );
        // Nothing trusted (the default): always the connection's address.
        assert_eq!(
            client_ip(ip("10.0.0.2"), &["198.51.100.7"], &[]),
            ip("10.0.0.2")
        );
    }
}
