//! Staff users: the partner's customer-success team. This is the small shared piece (creating a
//! user with a one-time password); sign-in, TOTP and roles on routes belong to the dashboard.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use secrecy::{ExposeSecret, SecretString};

use crate::entity::staff_user;
use crate::error::{Error, Result};
use crate::events::{self, Actor};
use crate::types::Email;

/// What a staff user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    /// Parses `viewer`, `operator` or `admin`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "viewer" => Some(Self::Viewer),
            "operator" => Some(Self::Operator),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
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

/// argon2id hash in PHC form.
pub fn hash_password(p: &SecretString) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(p.expose_secret().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Invalid(format!("cannot hash the password: {e}")))
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
        role: Set(role.as_str().to_owned()),
        password_hash: Set(hash_password(password)?),
        must_change_password: Set(true),
        totp_secret_ct: Set(None),
        key_id: Set(None),
        totp_enrolled_at: Set(None),
        recovery_codes: Set(None),
        failed_attempts: Set(0),
        locked_until: Set(None),
        last_login_at: Set(None),
        disabled_at: Set(None),
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
