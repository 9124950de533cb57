//! The TOTP second factor: enrollment (the first code proves the app has the secret, which is
//! then sealed at rest) and checking a code, which works once.

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use secrecy::{ExposeSecret, SecretString};

use crate::entity::staff_user;
use crate::error::{Error, Result};

use super::recovery::{recovery_codes, recovery_hash};
use super::*;

/// A TOTP secret being enrolled (kept in the sign-in session until confirmed).
pub fn new_totp_secret() -> SecretString {
    SecretString::from(totp_rs::Secret::generate_secret().to_encoded().to_string())
}

/// The TOTP for a base32 secret: SHA-1, 6 digits, 30-second steps (what every authenticator
/// app supports).
pub fn totp(secret_b32: &SecretString, issuer: &str, email: &str) -> Result<totp_rs::TOTP> {
    let bytes = totp_rs::Secret::Encoded(secret_b32.expose_secret().to_owned())
        .to_bytes()
        .map_err(|e| Error::Internal(format!("bad TOTP secret: {e:?}")))?;
    totp_rs::TOTP::new(
        totp_rs::Algorithm::SHA1,
        6,
        1,
        TOTP_STEP,
        bytes,
        Some(issuer.to_owned()),
        email.to_owned(),
    )
    .map_err(|e| Error::Internal(format!("bad TOTP secret: {e}")))
}

/// The time step a code belongs to, if it is valid at `now` (one step of clock skew allowed).
pub fn totp_step(t: &totp_rs::TOTP, code: &str, now: DateTime<Utc>) -> Option<i64> {
    let code = code.trim().replace(' ', "");
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = u64::try_from(now.timestamp()).ok()?;
    let step = now / TOTP_STEP;
    [step.saturating_sub(1), step, step + 1]
        .into_iter()
        .find(|s| {
            bool::from(subtle::ConstantTimeEq::ct_eq(
                t.generate(s * TOTP_STEP).as_bytes(),
                code.as_bytes(),
            ))
        })
        .and_then(|s| i64::try_from(s).ok())
}

pub(crate) fn totp_aad(user_id: i64) -> String {
    format!("staff_user:{user_id}:totp")
}

/// Completes enrollment: the first code from the app proves it has the secret. Returns the
/// recovery codes, shown once.
pub async fn enroll_totp<C: ConnectionTrait>(
    db: &C,
    sealer: &crate::security::crypto::Sealer,
    user: &staff_user::Model,
    secret: &SecretString,
    code: &str,
    issuer: &str,
    now: DateTime<Utc>,
) -> Result<Option<Vec<SecretString>>> {
    let t = totp(secret, issuer, &user.email)?;
    let Some(step) = totp_step(&t, code, now) else {
        return Ok(None);
    };
    let sealed = sealer.seal_str(secret, &totp_aad(user.id));
    let codes = recovery_codes();
    let changes = staff_user::ActiveModel {
        totp_secret_ct: Set(Some(sealed.bytes)),
        key_id: Set(Some(sealed.key_id)),
        totp_enrolled_at: Set(Some(now)),
        totp_last_step: Set(Some(step)),
        recovery_codes: Set(Some(serde_json::json!(
            codes
                .iter()
                .map(|c| recovery_hash(c.expose_secret()))
                .collect::<Vec<_>>()
        ))),
        ..Default::default()
    };
    let details = serde_json::json!({ "recovery_codes": codes.len() });
    update_own(db, user, changes, now, "staff.totp_enrolled", details).await?;
    Ok(Some(codes))
}

/// Checks a TOTP code for an enrolled user. A code is accepted once: a replayed code (or an
/// older one) is refused even inside its 30 seconds.
pub async fn check_totp<C: ConnectionTrait>(
    db: &C,
    sealer: &crate::security::crypto::Sealer,
    user: &staff_user::Model,
    code: &str,
    issuer: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let (Some(ct), Some(key_id)) = (&user.totp_secret_ct, &user.key_id) else {
        return Ok(false);
    };
    let secret = sealer
        .open_str(key_id, ct, &totp_aad(user.id))
        .map_err(|e| Error::Internal(format!("the TOTP secret cannot be opened: {e}")))?;
    let t = totp(&secret, issuer, &user.email)?;
    let Some(step) = totp_step(&t, code, now) else {
        return Ok(false);
    };
    // Guarded update: of two requests with the same code, one wins.
    let res = staff_user::Entity::update_many()
        .col_expr(
            staff_user::Column::TotpLastStep,
            sea_orm::sea_query::Expr::value(step),
        )
        .filter(staff_user::Column::Id.eq(user.id))
        .filter(
            sea_orm::Condition::any()
                .add(staff_user::Column::TotpLastStep.is_null())
                .add(staff_user::Column::TotpLastStep.lt(step)),
        )
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}
