//! Encryption at rest: AES-256-GCM with a random 96-bit nonce per seal, the key id stored beside
//! each ciphertext, and the sealed value's identity as associated data, so a ciphertext copied
//! into another row (or another column) does not open.

use std::collections::HashMap;
use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};

use crate::config::{ConfigError, CryptoConfig};

const NONCE_LEN: usize = 12;

/// Seals and opens secrets with the configured keys (newest seals; any opens).
#[derive(Clone)]
pub struct Sealer {
    /// Shared: a sealer is cloned into every request's state, and key schedules are not small.
    keys: std::sync::Arc<HashMap<String, Aes256Gcm>>,
    newest: String,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealer")
            .field("newest", &self.newest)
            .field("keys", &self.keys.len())
            .finish()
    }
}

/// A sealed value and the id of the key that sealed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    /// nonce || ciphertext+tag
    pub bytes: Vec<u8>,
}

/// Why a value could not be opened. Deliberately vague: details would help an attacker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error(
        "no key with id `{0}` is configured (was it removed from crypto.keys before `reauth keys rotate`?)"
    )]
    UnknownKey(String),
    #[error("a sealed value failed authentication (wrong key, wrong row, or tampered)")]
    Tampered,
}

impl Sealer {
    /// Builds a sealer from `[crypto]`, or an error naming the missing key.
    pub fn from_config(c: &CryptoConfig) -> Result<Self, ConfigError> {
        let keys = c.require_keys()?;
        Ok(Self::from_keys(&keys))
    }

    /// Builds a sealer from `(id, key)` pairs, newest last. Panics on an empty list, which
    /// `from_config` rules out.
    pub fn from_keys(keys: &[(String, [u8; 32])]) -> Self {
        let newest = keys.last().map(|(id, _)| id.clone()).unwrap_or_default();
        let keys = keys
            .iter()
            .map(|(id, k)| (id.clone(), Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(k))))
            .collect();
        Self {
            keys: std::sync::Arc::new(keys),
            newest,
        }
    }

    /// The id of the key new values are sealed with.
    pub fn newest_key_id(&self) -> &str {
        &self.newest
    }

    /// Seals `plaintext`, bound to `aad` (the value's identity, e.g. `connection/00D…/eca/refresh`).
    pub fn seal(&self, plaintext: &[u8], aad: &str) -> Sealed {
        let cipher = &self.keys[&self.newest];
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: aad.as_bytes(),
                },
            )
            .unwrap_or_else(|_| {
                unreachable!("AES-GCM encryption of an in-memory buffer cannot fail")
            });
        let mut bytes = Vec::with_capacity(NONCE_LEN + ct.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&ct);
        Sealed {
            key_id: self.newest.clone(),
            bytes,
        }
    }

    /// Seals a secret string.
    pub fn seal_str(&self, secret: &SecretString, aad: &str) -> Sealed {
        self.seal(secret.expose_secret().as_bytes(), aad)
    }

    /// Opens a sealed value.
    pub fn open(&self, key_id: &str, bytes: &[u8], aad: &str) -> Result<Vec<u8>, CryptoError> {
        let cipher = self
            .keys
            .get(key_id)
            .ok_or_else(|| CryptoError::UnknownKey(key_id.to_owned()))?;
        if bytes.len() < NONCE_LEN + 16 {
            return Err(CryptoError::Tampered);
        }
        let (nonce, ct) = bytes.split_at(NONCE_LEN);
        cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Tampered)
    }

    /// Opens a sealed UTF-8 secret.
    pub fn open_str(
        &self,
        key_id: &str,
        bytes: &[u8],
        aad: &str,
    ) -> Result<SecretString, CryptoError> {
        let plain = self.open(key_id, bytes, aad)?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| CryptoError::Tampered)
    }

    /// Generates a new random key in `id:BASE64` form (for the demo and operators).
    pub fn generate_key(id: &str) -> SecretString {
        use base64::Engine as _;
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        SecretString::from(format!(
            "{id}:{}",
            base64::engine::general_purpose::STANDARD.encode(k)
        ))
    }
}

/// 256 random bits from the operating system, base64url without padding: for secrets that
/// appear in URLs and forms (link secrets, OAuth `state` and `nonce`, API keys).
pub fn random_token() -> String {
    use base64::Engine as _;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Lower-case hex SHA-256 of `data` (how link secrets, API keys and recovery codes are stored).
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest as _;
    to_hex(&sha2::Sha256::digest(data))
}

/// `bytes` as lower-case hex, two digits a byte.
pub fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_two_lower_case_digits_a_byte() {
        assert_eq!(to_hex(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
        assert_eq!(to_hex(&[]), "");
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    fn sealer(ids: &[(&str, u8)]) -> Sealer {
        Sealer::from_keys(
            &ids.iter()
                .map(|(id, b)| ((*id).to_owned(), [*b; 32]))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn sealed_values_open_only_with_the_same_identity() {
        let s = sealer(&[("k1", 1)]);
        let sealed = s.seal(b"5Aep861-refresh", "connection/00D/eca/refresh");
        assert_eq!(
            s.open(&sealed.key_id, &sealed.bytes, "connection/00D/eca/refresh")
                .unwrap(),
            b"5Aep861-refresh"
        );
        assert_eq!(
            s.open(&sealed.key_id, &sealed.bytes, "connection/00D/eca/access"),
            Err(CryptoError::Tampered)
        );
    }

    #[test]
    fn nonces_are_fresh_and_plaintext_does_not_appear() {
        let s = sealer(&[("k1", 1)]);
        let a = s.seal(b"same secret value", "x");
        let b = s.seal(b"same secret value", "x");
        assert_ne!(a.bytes, b.bytes);
        assert!(!a.bytes.windows(6).any(|w| w == b"secret"));
    }

    #[test]
    fn old_keys_still_open_and_new_values_use_the_newest() {
        let old = sealer(&[("k1", 1)]);
        let sealed = old.seal(b"v", "x");
        let rotated = sealer(&[("k1", 1), ("k2", 2)]);
        assert_eq!(rotated.open("k1", &sealed.bytes, "x").unwrap(), b"v");
        assert_eq!(rotated.seal(b"v", "x").key_id, "k2");
        let without_old = sealer(&[("k2", 2)]);
        assert_eq!(
            without_old.open("k1", &sealed.bytes, "x"),
            Err(CryptoError::UnknownKey("k1".into()))
        );
    }

    #[test]
    fn flipped_bits_are_detected() {
        let s = sealer(&[("k1", 1)]);
        let mut sealed = s.seal(b"value", "x");
        let last = sealed.bytes.len() - 1;
        sealed.bytes[last] ^= 1;
        assert_eq!(s.open("k1", &sealed.bytes, "x"), Err(CryptoError::Tampered));
        assert_eq!(s.open("k1", &[0u8; 5], "x"), Err(CryptoError::Tampered));
    }
}
