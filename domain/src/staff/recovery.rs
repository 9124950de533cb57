//! Recovery codes: ten single-use codes, shown once and stored as SHA-256.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use secrecy::SecretString;

use crate::entity::staff_user;
use crate::error::Result;
use crate::events::{self, Actor};

use super::*;

/// Ten fresh recovery codes, `xxxxx-xxxxx`.
pub(super) fn recovery_codes() -> Vec<SecretString> {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rngs::OsRng;
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut s: String = (0..10)
                .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
                .collect();
            s.insert(5, '-');
            SecretString::from(s)
        })
        .collect()
}

pub(super) fn recovery_hash(code: &str) -> String {
    let normalised: String = code
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    crate::security::crypto::sha256_hex(normalised.as_bytes())
}

/// Uses a recovery code instead of a TOTP code; each works once.
pub async fn use_recovery_code<C: ConnectionTrait>(
    db: &C,
    user: &staff_user::Model,
    code: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let hashes: Vec<String> = user
        .recovery_codes
        .clone()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    let h = recovery_hash(code);
    let Some(pos) = hashes
        .iter()
        .position(|x| bool::from(subtle::ConstantTimeEq::ct_eq(x.as_bytes(), h.as_bytes())))
    else {
        return Ok(false);
    };
    let mut rest = hashes.clone();
    rest.remove(pos);
    // Guarded on the list we read, so a code cannot be spent twice concurrently.
    let res = staff_user::Entity::update_many()
        .col_expr(
            staff_user::Column::RecoveryCodes,
            sea_orm::sea_query::Expr::value(serde_json::json!(rest)),
        )
        .filter(staff_user::Column::Id.eq(user.id))
        .filter(staff_user::Column::UpdatedAt.eq(user.updated_at))
        .col_expr(
            staff_user::Column::UpdatedAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .exec(db)
        .await?;
    if res.rows_affected != 1 {
        return Ok(false);
    }
    events::record(
        db,
        now,
        &Actor::Staff(user.email.clone()),
        None,
        "staff.recovery_code_used",
        serde_json::json!({ "remaining": rest.len() }),
    )
    .await?;
    Ok(true)
}

/// How many unused recovery codes a user has.
pub fn recovery_codes_left(user: &staff_user::Model) -> usize {
    user.recovery_codes
        .as_ref()
        .and_then(|v| v.as_array())
        .map_or(0, Vec::len)
}
