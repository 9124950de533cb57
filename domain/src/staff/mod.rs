//! Staff users: the partner's customer-success team, and everything about their sign-in:
//! argon2id passwords, lockout after repeated failures, TOTP second factor (a code works once),
//! and single-use recovery codes. The web layer drives these; rules live here.

mod admin;
pub mod bulk;
pub mod dashboard;
pub mod org_page;
pub mod overview_cache;
mod password;
mod recovery;
pub mod sessions;
mod totp;

pub use admin::{AdminChange, ChangedBy, admin_change};
pub use password::{
    PasswordCheck, change_password, check_password, hash_password, locked, record_failure,
    signed_in,
};
pub use recovery::{recovery_codes_left, use_recovery_code};
pub(crate) use totp::totp_aad;
pub use totp::{check_totp, enroll_totp, new_totp_secret, totp, totp_step};

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use secrecy::SecretString;

use crate::entity::staff_user;
use crate::error::{Error, Result};
use crate::events::{self, Actor};
use crate::types::Email;

crate::entity::snake_case_enum! {
    /// What a staff user may do. Ordered: each role may do everything the ones before it may.
    #[derive(PartialOrd, Ord, strum::EnumString)]
    pub enum Role {
        Viewer,
        Operator,
        Admin,
    }
}

impl Role {
    /// Parses `viewer`, `operator` or `admin`.
    pub fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
    }

    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A random one-time password: 20 characters from an unambiguous alphabet.
pub fn one_time_password() -> SecretString {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    SecretString::from(
        (0..20)
            .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
            .collect::<String>(),
    )
}

/// Creates a staff user who must change `password` at first sign-in.
pub async fn add<C: ConnectionTrait>(
    db: &C,
    email: &Email,
    role: Role,
    password: &SecretString,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<staff_user::Model> {
    if staff_user::Entity::find()
        .filter(staff_user::Column::Email.eq(email.as_str()))
        .one(db)
        .await?
        .is_some()
    {
        return Err(Error::Conflict(format!(
            "a staff user {email} already exists"
        )));
    }
    let row = staff_user::ActiveModel {
        id: NotSet,
        email: Set(email.as_str().to_owned()),
        role: Set(role),
        password_hash: Set(hash_password(password).await?),
        must_change_password: Set(true),
        totp_secret_ct: Set(None),
        key_id: Set(None),
        totp_enrolled_at: Set(None),
        recovery_codes: Set(None),
        failed_attempts: Set(0),
        locked_until: Set(None),
        last_login_at: Set(None),
        disabled_at: Set(None),
        totp_last_step: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let model = staff_user::Entity::insert(row)
        .exec_with_returning(db)
        .await?;
    events::record(
        db,
        now,
        actor,
        None,
        "staff.added",
        serde_json::json!({ "email": email, "role": role.as_str() }),
    )
    .await?;
    Ok(model)
}

/// Writes `changes` to `user`'s own row (its id and `updated_at` filled in here) and records
/// `kind` as the user's own act.
pub(crate) async fn update_own<C: ConnectionTrait>(
    db: &C,
    user: &staff_user::Model,
    mut changes: staff_user::ActiveModel,
    now: DateTime<Utc>,
    kind: &str,
    details: serde_json::Value,
) -> Result<()> {
    changes.id = sea_orm::ActiveValue::Set(user.id);
    changes.updated_at = sea_orm::ActiveValue::Set(now);
    staff_user::Entity::update(changes).exec(db).await?;
    events::record(
        db,
        now,
        &Actor::Staff(user.email.clone()),
        None,
        kind,
        details,
    )
    .await
}

/// Failed sign-in steps (password or second factor) before the account locks.
pub const MAX_FAILED_ATTEMPTS: i32 = 5;
/// How long a locked account stays locked.
pub const LOCKOUT: chrono::Duration = chrono::Duration::minutes(15);
/// Shortest password a staff user may choose.
pub const MIN_PASSWORD_LEN: usize = 12;
/// Recovery codes issued at enrollment.
pub const RECOVERY_CODES: usize = 10;
const TOTP_STEP: u64 = 30;

/// Finds a staff user by email (case-insensitive).
pub async fn find_by_email<C: ConnectionTrait>(
    db: &C,
    email: &str,
) -> Result<Option<staff_user::Model>> {
    Ok(staff_user::Entity::find()
        .filter(staff_user::Column::Email.eq(email.trim().to_lowercase()))
        .one(db)
        .await?)
}

/// Finds a staff user by id.
pub async fn get<C: ConnectionTrait>(db: &C, id: i64) -> Result<Option<staff_user::Model>> {
    Ok(staff_user::Entity::find_by_id(id).one(db).await?)
}

/// Every staff user, by email.
pub async fn list<C: ConnectionTrait>(db: &C) -> Result<Vec<staff_user::Model>> {
    use sea_orm::QueryOrder;
    Ok(staff_user::Entity::find()
        .order_by_asc(staff_user::Column::Email)
        .all(db)
        .await?)
}
