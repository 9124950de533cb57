//! The second factor: TOTP enrollment (QR code, first code, recovery codes shown once) and the
//! TOTP or recovery code at each sign-in.

use askama::Template;
use axum::extract::{FromRequestParts, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use domain::entity::staff_user;
use domain::staff;
use http::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use tower_sessions::Session;

use super::{ClientIp, PENDING_KEY, Pending, Stage, complete, locked_page, pending, too_many};
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

/// Which step after the password a [`LimitedStep`] is.
pub(crate) trait StepStage {
    const STAGE: Stage;
}

/// The POST of `/login/enroll`.
pub(crate) struct Enrolling;

impl StepStage for Enrolling {
    const STAGE: Stage = Stage::Enroll;
}

/// The POST of `/login/second-factor`.
pub(crate) struct UsingSecondFactor;

impl StepStage for UsingSecondFactor {
    const STAGE: Stage = Stage::SecondFactor;
}

/// A rate-limited step after the password: the pending sign-in at `S::STAGE`, its user, the
/// session and the time. Refused with the response that ends the request: too many attempts
/// from the client's address, locked, or back to the start.
pub(crate) struct LimitedStep<S> {
    state: AppState,
    session: Session,
    pending: Pending,
    user: staff_user::Model,
    now: DateTime<Utc>,
    stage: std::marker::PhantomData<S>,
}

impl<S: StepStage> FromRequestParts<AppState> for LimitedStep<S> {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Ok(ClientIp(ip)) = ClientIp::from_request_parts(parts, state).await;
        if state.sign_in_limiter.check_key(&ip).is_err() {
            return Err(too_many());
        }
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let now = state.clock.now();
        let (pending, user) = pending(state, &session, S::STAGE, now)
            .await
            .map_err(IntoResponse::into_response)??;
        Ok(Self {
            state: state.clone(),
            session,
            pending,
            user,
            now,
            stage: std::marker::PhantomData,
        })
    }
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
    step: LimitedStep<Enrolling>,
    form: FormData,
) -> Result<Response, AppError> {
    let LimitedStep {
        state,
        session,
        pending: p,
        user,
        now,
        ..
    } = step;
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
    step: LimitedStep<UsingSecondFactor>,
    form: FormData,
) -> Result<Response, AppError> {
    let (state, session, user, now) = (&step.state, &step.session, &step.user, step.now);
    let (ok, factor) = check_code(state, user, &form, now).await?;
    if ok {
        let next = step.pending.next.clone().unwrap_or_else(|| "/".into());
        complete(state, session, user, factor, now).await?;
        return Ok(redirect(&next));
    }
    let locked = staff::record_failure(&state.db, user, factor, now).await?;
    if let Some(until) = locked {
        session.remove::<Pending>(PENDING_KEY).await?;
        return Ok(locked_page(until));
    }
    Ok(render(
        StatusCode::UNAUTHORIZED,
        &SecondFactorPage {
            partner: state.config.partner.name.clone(),
            csrf: csrf_token(session).await?,
            email: user.email.clone(),
            error: Some(
                "That code does not work. Codes change every 30 seconds and each works once."
                    .into(),
            ),
        },
    ))
}
