//! The second factor: TOTP enrollment (QR code, first code, recovery codes shown once) and the
//! TOTP or recovery code at each sign-in.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, Utc};
use domain::entity::staff_user;
use domain::staff;
use http::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use tower_sessions::Session;

use super::{ClientIp, PENDING_KEY, Pending, Stage, complete, limited_step, locked_page, pending};
use crate::AppState;
use crate::error::AppError;
use crate::pages::render;
use crate::security::{csrf_token, redirect};
use crate::staff::FormData;

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

/// The recovery codes, shown once, and the way on to `next`.
fn recovery_page(state: &AppState, codes: &[SecretString], next: String) -> Response {
    render(
        StatusCode::OK,
        &RecoveryPage {
            partner: state.config.partner.name.clone(),
            codes: codes.iter().map(|c| c.expose_secret().to_owned()).collect(),
            next,
        },
    )
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
    let issuer = issuer(&state);
    let codes = staff::enroll_totp(&state.db, sealer, &user, &secret, code, &issuer, now).await?;
    let Some(codes) = codes else {
        staff::record_failure(&state.db, &user, "totp_enrollment", now).await?;
        let csrf = csrf_token(&session).await?;
        let error =
            "That code does not match. Check the time on your phone and enter the current code.";
        let page = enroll_page_for(&state, csrf, &user, &secret, Some(error.into()))?;
        return Ok(render(StatusCode::BAD_REQUEST, &page));
    };
    let next = p.next.clone().unwrap_or_else(|| "/".into());
    complete(&state, &session, &user, "totp_enrolled", now).await?;
    Ok(recovery_page(&state, &codes, next))
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

/// Whether the form's recovery code, else its TOTP code, is right, and which factor it was.
async fn check_code(
    state: &AppState,
    user: &staff_user::Model,
    form: &FormData,
    now: DateTime<Utc>,
) -> Result<(bool, &'static str), AppError> {
    if let Some(code) = form.get("recovery_code") {
        let ok = staff::use_recovery_code(&state.db, user, code, now).await?;
        return Ok((ok, "recovery_code"));
    }
    let sealer = state.sealer()?;
    let code = form.get("code").unwrap_or_default();
    let ok = staff::check_totp(&state.db, sealer, user, code, &issuer(state), now).await?;
    Ok((ok, "totp"))
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
    let (ok, factor) = check_code(&state, &user, &form, now).await?;
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
