//! Administration (admin role): staff users, API keys, and the running configuration with its
//! secrets redacted.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use domain::staff::{AdminChange, Role};
use domain::types::Email;
use http::StatusCode;
use secrecy::ExposeSecret;

use super::view::{Nav, Notice, when};
use super::{CurrentStaff, FormData};
use crate::AppState;
use crate::error::AppError;
use crate::pages::render;
use crate::security::redirect;

struct StaffRow {
    id: i64,
    email: String,
    role: String,
    two_factor: bool,
    recovery_left: usize,
    locked: bool,
    disabled: bool,
    last_login: String,
    is_me: bool,
}

#[derive(Template)]
#[template(path = "staff/admin_staff.html")]
struct StaffPage {
    nav: Nav,
    users: Vec<StaffRow>,
}

pub(crate) async fn staff(
    State(state): State<AppState>,
    me: CurrentStaff,
) -> Result<Response, AppError> {
    let now = state.clock.now();
    let users = domain::staff::list(&state.db)
        .await?
        .into_iter()
        .map(|u| StaffRow {
            id: u.id,
            two_factor: u.totp_enrolled_at.is_some(),
            recovery_left: domain::staff::recovery_codes_left(&u),
            locked: domain::staff::locked(&u, now).is_some(),
            disabled: u.disabled_at.is_some(),
            last_login: u
                .last_login_at
                .as_ref()
                .map(when)
                .unwrap_or_else(|| "never".into()),
            is_me: u.id == me.user.id,
            email: u.email,
            role: u.role.as_str().to_owned(),
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        &StaffPage {
            nav: Nav::new(&state, &me, "admin"),
            users,
        },
    ))
}

fn back_staff() -> (String, String) {
    ("/admin/staff".into(), "Back to staff".into())
}

fn role(form: &FormData) -> Result<Role, AppError> {
    let r = form.get("role").unwrap_or_default();
    Role::parse(r).ok_or_else(|| {
        AppError::bad_request(format!("role must be viewer, operator or admin, not `{r}`"))
    })
}

pub(crate) async fn add_staff(
    State(state): State<AppState>,
    me: CurrentStaff,
    form: FormData,
) -> Result<Response, AppError> {
    let raw = form.get("email").unwrap_or_default();
    let email =
        Email::parse(raw).map_err(|e| AppError::bad_request(format!("email `{raw}`: {e}")))?;
    let role = role(&form)?;
    let password = domain::staff::one_time_password();
    domain::staff::add(
        &state.db,
        &email,
        role,
        &password,
        &me.actor(),
        state.clock.now(),
    )
    .await?;
    let mut n = Notice::ok(
        Nav::new(&state, &me, "admin"),
        format!("{email} can now sign in as {}", role.as_str()),
        back_staff(),
    );
    n.paragraphs.push(
        "Give them this one-time password through a separate channel. At first sign-in they choose their own password and set up two-factor sign-in.".into(),
    );
    n.once = Some((
        "One-time password".into(),
        password.expose_secret().to_owned(),
    ));
    Ok(render(StatusCode::OK, &n))
}

/// The change the form asks for.
fn change(form: &FormData) -> Result<AdminChange, AppError> {
    Ok(match form.get("change").unwrap_or_default() {
        "role" => AdminChange::SetRole(role(form)?),
        "disable" => AdminChange::Disable,
        "enable" => AdminChange::Enable,
        "reset_two_factor" => AdminChange::ResetTwoFactor,
        "reset_password" => AdminChange::ResetPassword,
        other => {
            return Err(AppError::bad_request(format!("unknown change `{other}`")));
        }
    })
}

pub(crate) async fn change_staff(
    State(state): State<AppState>,
    me: CurrentStaff,
    Path(id): Path<i64>,
    form: FormData,
) -> Result<Response, AppError> {
    let change = change(&form)?;
    let password = domain::staff::admin_change(
        &state.db,
        id,
        &change,
        &domain::staff::ChangedBy::Admin(&me.user),
        state.clock.now(),
    )
    .await?;
    match password {
        Some(p) => {
            let mut n = Notice::ok(
                Nav::new(&state, &me, "admin"),
                "Password reset",
                back_staff(),
            );
            n.paragraphs.push(
                "The account is unlocked; the user must choose a new password at next sign-in."
                    .into(),
            );
            n.once = Some(("One-time password".into(), p.expose_secret().to_owned()));
            Ok(render(StatusCode::OK, &n))
        }
        None => Ok(redirect("/admin/staff")),
    }
}

struct KeyRow {
    id: i64,
    name: String,
    prefix: String,
    created_by: String,
    created: String,
    last_used: String,
    revoked: Option<String>,
}

#[derive(Template)]
#[template(path = "staff/admin_keys.html")]
struct KeysPage {
    nav: Nav,
    keys: Vec<KeyRow>,
}

pub(crate) async fn api_keys(
    State(state): State<AppState>,
    me: CurrentStaff,
) -> Result<Response, AppError> {
    let keys = domain::security::api_keys::list(&state.db)
        .await?
        .into_iter()
        .map(|k| KeyRow {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            created_by: k.created_by,
            created: when(&k.created_at),
            last_used: k
                .last_used_at
                .as_ref()
                .map(when)
                .unwrap_or_else(|| "never".into()),
            revoked: k.revoked_at.as_ref().map(when),
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        &KeysPage {
            nav: Nav::new(&state, &me, "admin"),
            keys,
        },
    ))
}

pub(crate) async fn create_api_key(
    State(state): State<AppState>,
    me: CurrentStaff,
    form: FormData,
) -> Result<Response, AppError> {
    let (key, model) = domain::security::api_keys::create(
        &state.db,
        form.get("name").unwrap_or_default(),
        &me.actor(),
        state.clock.now(),
    )
    .await?;
    let mut n = Notice::ok(
        Nav::new(&state, &me, "admin"),
        format!("API key {} created", model.name),
        ("/admin/api-keys".into(), "Back to API keys".into()),
    );
    n.paragraphs.push(
        "The partner service sends it as `Authorization: Bearer …` to the token API. reauth keeps only its hash."
            .into(),
    );
    n.once = Some(("API key".into(), key.expose_secret().to_owned()));
    Ok(render(StatusCode::OK, &n))
}

pub(crate) async fn revoke_api_key(
    State(state): State<AppState>,
    me: CurrentStaff,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    domain::security::api_keys::revoke(&state.db, id, &me.actor(), state.clock.now()).await?;
    state.api_keys.clear();
    Ok(redirect("/admin/api-keys"))
}

#[derive(Template)]
#[template(path = "staff/admin_settings.html")]
struct SettingsPage {
    nav: Nav,
    toml: String,
}

pub(crate) async fn settings(
    State(state): State<AppState>,
    me: CurrentStaff,
) -> Result<Response, AppError> {
    Ok(render(
        StatusCode::OK,
        &SettingsPage {
            nav: Nav::new(&state, &me, "admin"),
            toml: state.config.to_redacted_toml(),
        },
    ))
}
