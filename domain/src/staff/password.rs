//! Passwords: argon2id hashes computed off the async threads, the password step of sign-in
//! with lockout after repeated failures, and changing a password.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use secrecy::{ExposeSecret, SecretString};

use crate::entity::staff_user;
use crate::error::{Error, Result};
use crate::events::{self, Actor};

use super::*;

/// argon2id hash in PHC form, computed on a blocking thread: a hash takes tens of milliseconds of
/// CPU, which on the async threads would stall every other request (the token API's included).
pub async fn hash_password(p: &SecretString) -> Result<String> {
    let p = p.clone();
    tokio::task::spawn_blocking(move || hash_password_now(&p))
        .await
        .map_err(|e| Error::Internal(format!("the password hashing task failed: {e}")))?
}

fn hash_password_now(p: &SecretString) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(p.expose_secret().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(format!("cannot hash the password: {e}")))
}

/// The outcome of the password step.
#[derive(Debug)]
pub enum PasswordCheck {
    /// Right password; the second factor (or enrollment) comes next.
    Accepted(Box<staff_user::Model>),
    /// Unknown email or wrong password (indistinguishable to the caller on purpose).
    Rejected,
    /// Too many failures: no password is checked until then.
    Locked { until: DateTime<Utc> },
    /// The account was disabled by an admin.
    Disabled,
}

/// A hash of a random password, verified when the email is unknown so that an unknown email
/// costs the same time as a wrong password.
fn dummy_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| hash_password_now(&one_time_password()).unwrap_or_default())
}

/// Checks a password against its hash on a blocking thread (see [`hash_password`]); `None`
/// checks it against a dummy hash, so an unknown email costs the same.
async fn verify_password(hash: Option<String>, p: &SecretString) -> bool {
    let p = p.clone();
    tokio::task::spawn_blocking(move || match hash {
        Some(h) => verify_password_now(&h, &p),
        None => verify_password_now(dummy_hash(), &p),
    })
    .await
    .unwrap_or(false)
}

fn verify_password_now(hash: &str, p: &SecretString) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(p.expose_secret().as_bytes(), &h)
            .is_ok()
    })
}

/// The password step of sign-in. A wrong password counts towards lockout.
pub async fn check_password<C: ConnectionTrait>(
    db: &C,
    email: &str,
    password: &SecretString,
    now: DateTime<Utc>,
) -> Result<PasswordCheck> {
    let Some(user) = find_by_email(db, email).await? else {
        let _same_cost = verify_password(None, password).await;
        return Ok(PasswordCheck::Rejected);
    };
    if user.disabled_at.is_some() {
        return Ok(PasswordCheck::Disabled);
    }
    if let Some(until) = user.locked_until.filter(|u| *u > now) {
        return Ok(PasswordCheck::Locked { until });
    }
    if verify_password(Some(user.password_hash.clone()), password).await {
        Ok(PasswordCheck::Accepted(Box::new(user)))
    } else {
        record_failure(db, &user, "password", now).await?;
        Ok(PasswordCheck::Rejected)
    }
}

/// Counts a failed step; the fifth in a row locks the account for [`LOCKOUT`].
pub async fn record_failure<C: ConnectionTrait>(
    db: &C,
    user: &staff_user::Model,
    step: &str,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>> {
    use sea_orm::sea_query::{Expr, ExprTrait};
    // Counted in the database, so parallel attempts against several servers add up.
    staff_user::Entity::update_many()
        .col_expr(
            staff_user::Column::FailedAttempts,
            Expr::col(staff_user::Column::FailedAttempts).add(1),
        )
        .col_expr(staff_user::Column::UpdatedAt, Expr::value(now))
        .filter(staff_user::Column::Id.eq(user.id))
        .exec(db)
        .await?;
    let failed = get(db, user.id).await?.map_or(0, |u| u.failed_attempts);
    let actor = Actor::Staff(user.email.clone());
    events::record(
        db,
        now,
        &actor,
        None,
        "staff.sign_in_failed",
        serde_json::json!({ "step": step, "failed_attempts": failed }),
    )
    .await?;
    if failed < MAX_FAILED_ATTEMPTS {
        return Ok(None);
    }
    let until = now + LOCKOUT;
    staff_user::Entity::update_many()
        .col_expr(staff_user::Column::LockedUntil, Expr::value(until))
        .col_expr(staff_user::Column::FailedAttempts, Expr::value(0))
        .filter(staff_user::Column::Id.eq(user.id))
        .exec(db)
        .await?;
    events::record(
        db,
        now,
        &actor,
        None,
        "staff.locked",
        serde_json::json!({ "until": until, "after_failures": failed }),
    )
    .await?;
    Ok(Some(until))
}

/// Whether the account is locked right now.
pub fn locked(user: &staff_user::Model, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    user.locked_until.filter(|u| *u > now)
}

/// Both factors passed: clears the failure count and records the sign-in.
pub async fn signed_in<C: ConnectionTrait>(
    db: &C,
    user: &staff_user::Model,
    factor: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let changes = staff_user::ActiveModel {
        failed_attempts: Set(0),
        locked_until: Set(None),
        last_login_at: Set(Some(now)),
        ..Default::default()
    };
    let details = serde_json::json!({ "second_factor": factor });
    update_own(db, user, changes, now, "staff.signed_in", details).await
}

/// Sets a new password chosen by the user (after the one-time password, or by choice).
pub async fn change_password<C: ConnectionTrait>(
    db: &C,
    user: &staff_user::Model,
    new: &SecretString,
    now: DateTime<Utc>,
) -> Result<()> {
    let p = new.expose_secret();
    if p.chars().count() < MIN_PASSWORD_LEN {
        return Err(Error::Invalid(format!(
            "choose a password of at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    if verify_password(Some(user.password_hash.clone()), new).await {
        return Err(Error::Invalid(
            "choose a password different from the one-time password".into(),
        ));
    }
    let changes = staff_user::ActiveModel {
        password_hash: Set(hash_password(new).await?),
        must_change_password: Set(false),
        ..Default::default()
    };
    update_own(
        db,
        user,
        changes,
        now,
        "staff.password_changed",
        serde_json::json!({}),
    )
    .await
}
