//! The first sign-in's forced password change (or after an admin reset).

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use domain::staff;
use http::StatusCode;
use secrecy::SecretString;
use tower_sessions::Session;

use super::{PENDING_KEY, Stage, after_password, pending, stage_path};
use crate::AppState;
use crate::error::AppError;
use crate::pages::render;
use crate::security::{csrf_token, redirect};
use crate::staff::FormData;

#[derive(Template)]
#[template(path = "staff/login_password.html")]
struct PasswordPage {
    partner: String,
    csrf: String,
    email: String,
    min_len: usize,
    error: Option<String>,
}

/// The page for `email`, with the error of the last try if any.
fn page_for(state: &AppState, csrf: String, email: String, error: Option<String>) -> PasswordPage {
    PasswordPage {
        partner: state.config.partner.name.clone(),
        csrf,
        email,
        min_len: staff::MIN_PASSWORD_LEN,
        error,
    }
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
    let csrf = csrf_token(&session).await?;
    Ok(render(
        StatusCode::OK,
        &page_for(&state, csrf, user.email, None),
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
        let page = page_for(&state, csrf_token(&session).await?, user.email, Some(error));
        return Ok(render(StatusCode::BAD_REQUEST, &page));
    }
    p.stage = after_password(&user);
    let path = stage_path(p.stage);
    session.insert(PENDING_KEY, p).await?;
    Ok(redirect(path))
}
