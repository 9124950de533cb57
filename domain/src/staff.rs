//! Staff users: the partner's customer-success team, and everything about their sign-in:
//! argon2id passwords, lockout after repeated failures, TOTP second factor (a code works once),
//! and single-use recovery codes. The web layer drives these; rules live here.

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

/// What a staff user may do. Ordered: each role may do everything the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
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

/// argon2id hash in PHC form, computed on a blocking thread: a hash takes tens of milliseconds of
/// CPU, which on the async threads would stall every other request (the token API's included).
pub async fn hash_password(p: &SecretString) -> Result<String> {
    let p = p.clone();
    tokio::task::spawn_blocking(move || hash_password_now(&p))
        .await
        .map_err(|e| Error::Invalid(format!("the password hashing task failed: {e}")))?
}

fn hash_password_now(p: &SecretString) -> Result<String> {
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

/// Failed sign-in steps (password or second factor) before the account locks.
pub const MAX_FAILED_ATTEMPTS: i32 = 5;
/// How long a locked account stays locked.
pub const LOCKOUT: chrono::Duration = chrono::Duration::minutes(15);
/// Shortest password a staff user may choose.
pub const MIN_PASSWORD_LEN: usize = 12;
/// Recovery codes issued at enrollment.
pub const RECOVERY_CODES: usize = 10;
const TOTP_STEP: u64 = 30;

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
    staff_user::Entity::update(staff_user::ActiveModel {
        id: Set(user.id),
        failed_attempts: Set(0),
        locked_until: Set(None),
        last_login_at: Set(Some(now)),
        updated_at: Set(now),
        ..Default::default()
    })
    .exec(db)
    .await?;
    events::record(
        db,
        now,
        &Actor::Staff(user.email.clone()),
        None,
        "staff.signed_in",
        serde_json::json!({ "second_factor": factor }),
    )
    .await
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
    staff_user::Entity::update(staff_user::ActiveModel {
        id: Set(user.id),
        password_hash: Set(hash_password(new).await?),
        must_change_password: Set(false),
        updated_at: Set(now),
        ..Default::default()
    })
    .exec(db)
    .await?;
    events::record(
        db,
        now,
        &Actor::Staff(user.email.clone()),
        None,
        "staff.password_changed",
        serde_json::json!({}),
    )
    .await
}

/// A TOTP secret being enrolled (kept in the sign-in session until confirmed).
pub fn new_totp_secret() -> SecretString {
    SecretString::from(totp_rs::Secret::generate_secret().to_encoded().to_string())
}

/// The TOTP for a base32 secret: SHA-1, 6 digits, 30-second steps (what every authenticator
/// app supports).
pub fn totp(secret_b32: &SecretString, issuer: &str, email: &str) -> Result<totp_rs::TOTP> {
    let bytes = totp_rs::Secret::Encoded(secret_b32.expose_secret().to_owned())
        .to_bytes()
        .map_err(|e| Error::Invalid(format!("bad TOTP secret: {e:?}")))?;
    totp_rs::TOTP::new(
        totp_rs::Algorithm::SHA1,
        6,
        1,
        TOTP_STEP,
        bytes,
        Some(issuer.to_owned()),
        email.to_owned(),
    )
    .map_err(|e| Error::Invalid(format!("bad TOTP secret: {e}")))
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
    sealer: &crate::crypto::Sealer,
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
    staff_user::Entity::update(staff_user::ActiveModel {
        id: Set(user.id),
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
        updated_at: Set(now),
        ..Default::default()
    })
    .exec(db)
    .await?;
    events::record(
        db,
        now,
        &Actor::Staff(user.email.clone()),
        None,
        "staff.totp_enrolled",
        serde_json::json!({ "recovery_codes": codes.len() }),
    )
    .await?;
    Ok(Some(codes))
}

/// Checks a TOTP code for an enrolled user. A code is accepted once: a replayed code (or an
/// older one) is refused even inside its 30 seconds.
pub async fn check_totp<C: ConnectionTrait>(
    db: &C,
    sealer: &crate::crypto::Sealer,
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
        .map_err(|e| Error::Invalid(format!("the TOTP secret cannot be opened: {e}")))?;
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

/// Ten fresh recovery codes, `xxxxx-xxxxx`.
fn recovery_codes() -> Vec<SecretString> {
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

fn recovery_hash(code: &str) -> String {
    use sha2::Digest;
    let normalised: String = code
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let d = sha2::Sha256::digest(normalised.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
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

/// Admin actions on another staff user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminChange {
    SetRole(Role),
    Disable,
    Enable,
    /// Forget the TOTP secret and recovery codes: the user enrolls again at next sign-in.
    ResetTwoFactor,
    /// A new one-time password (returned by [`admin_change`]); also unlocks the account.
    ResetPassword,
}

/// Who makes an admin change: a signed-in admin (who may not disable or demote themself, so
/// someone always stays admin), or an operator at the command line (the way back in when the
/// last admin lost their phone and recovery codes).
#[derive(Debug, Clone)]
pub enum ChangedBy<'a> {
    Admin(&'a staff_user::Model),
    Cli(Actor),
}

/// Applies an admin's change to a staff user. Returns the new one-time password for
/// `ResetPassword`.
pub async fn admin_change<C: ConnectionTrait>(
    db: &C,
    target_id: i64,
    change: &AdminChange,
    by: &ChangedBy<'_>,
    now: DateTime<Utc>,
) -> Result<Option<SecretString>> {
    let target = get(db, target_id)
        .await?
        .ok_or_else(|| Error::Invalid(format!("no staff user with id {target_id}")))?;
    let actor = match by {
        ChangedBy::Admin(a) => Actor::Staff(a.email.clone()),
        ChangedBy::Cli(a) => a.clone(),
    };
    if let ChangedBy::Admin(admin) = by
        && target.id == admin.id
        && matches!(
            change,
            AdminChange::Disable | AdminChange::SetRole(Role::Viewer | Role::Operator)
        )
    {
        return Err(Error::Invalid(
            "you cannot disable or demote yourself; ask another admin".into(),
        ));
    }
    let mut row = staff_user::ActiveModel {
        id: Set(target.id),
        updated_at: Set(now),
        ..Default::default()
    };
    let mut password = None;
    let (kind, details) = match change {
        AdminChange::SetRole(r) => {
            row.role = Set(r.as_str().to_owned());
            (
                "staff.role_changed",
                serde_json::json!({ "from": target.role, "to": r.as_str() }),
            )
        }
        AdminChange::Disable => {
            row.disabled_at = Set(Some(now));
            ("staff.disabled", serde_json::json!({}))
        }
        AdminChange::Enable => {
            row.disabled_at = Set(None);
            ("staff.enabled", serde_json::json!({}))
        }
        AdminChange::ResetTwoFactor => {
            row.totp_secret_ct = Set(None);
            row.key_id = Set(None);
            row.totp_enrolled_at = Set(None);
            row.totp_last_step = Set(None);
            row.recovery_codes = Set(None);
            ("staff.two_factor_reset", serde_json::json!({}))
        }
        AdminChange::ResetPassword => {
            let p = one_time_password();
            row.password_hash = Set(hash_password(&p).await?);
            row.must_change_password = Set(true);
            row.failed_attempts = Set(0);
            row.locked_until = Set(None);
            password = Some(p);
            ("staff.password_reset", serde_json::json!({}))
        }
    };
    staff_user::Entity::update(row).exec(db).await?;
    let mut details = details;
    details["staff_user"] = target.email.clone().into();
    events::record(db, now, &actor, None, kind, details).await?;
    Ok(password)
}

/// Every staff user, by email.
pub async fn list<C: ConnectionTrait>(db: &C) -> Result<Vec<staff_user::Model>> {
    use sea_orm::QueryOrder;
    Ok(staff_user::Entity::find()
        .order_by_asc(staff_user::Column::Email)
        .all(db)
        .await?)
}
