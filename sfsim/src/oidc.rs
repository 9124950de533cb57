//! OpenID Connect: the `id_token` of token answers and the key set at `/id/keys`.
//!
//! Salesforce signs id tokens with RS256 and publishes its keys at `/id/keys` (facts §1.1).
//! sfsim does the same with one fixed 2048-bit RSA key that ships in this crate
//! (`id_token_key.pk8.b64`, PKCS#8): it is a published test key, good for nothing but sfsim.

use base64::Engine as _;
use ring::signature::{KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair, RsaPublicKeyComponents};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The `kid` of sfsim's only signing key.
pub const KID: &str = "sfsim-1";

/// How long an `id_token` is valid.
pub const ID_TOKEN_TTL_SECS: i64 = 300;

const KEY_B64: &str = include_str!("id_token_key.pk8.b64");

/// The RS256 signing key.
pub struct IdKey {
    pair: RsaKeyPair,
}

impl IdKey {
    /// Loads the built-in key (`None`, logged, if it does not parse: then no `id_token` is issued).
    pub fn load() -> Option<Self> {
        let compact: String = KEY_B64.split_whitespace().collect();
        let der = match base64::engine::general_purpose::STANDARD.decode(compact) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "sfsim: the id_token key is not base64");
                return None;
            }
        };
        match RsaKeyPair::from_pkcs8(&der) {
            Ok(pair) => Some(Self { pair }),
            Err(e) => {
                tracing::error!(error = %e, "sfsim: the id_token key does not load");
                None
            }
        }
    }

    /// The JWK set served at `/id/keys`.
    pub fn jwks(&self) -> Value {
        let c: RsaPublicKeyComponents<Vec<u8>> = self.pair.public_key().into();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        json!({ "keys": [{
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "kid": KID,
            "n": b64.encode(&c.n),
            "e": b64.encode(&c.e),
        }]})
    }

    /// A compact RS256 JWT of `claims`.
    pub fn sign(&self, claims: &Value) -> Option<String> {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = json!({ "alg": "RS256", "typ": "JWT", "kid": KID });
        let input = format!(
            "{}.{}",
            b64.encode(header.to_string()),
            b64.encode(claims.to_string())
        );
        let mut sig = vec![0u8; self.pair.public().modulus_len()];
        let rng = ring::rand::SystemRandom::new();
        match self
            .pair
            .sign(&RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut sig)
        {
            Ok(()) => Some(format!("{input}.{}", b64.encode(sig))),
            Err(e) => {
                tracing::error!(error = %e, "sfsim: id_token signing failed");
                None
            }
        }
    }
}

/// The claims of an `id_token`: `iss` (the login host), `sub` (the identity URL, as Salesforce
/// does), `aud` (the client id), `iat`, `exp`, `at_hash`, and `nonce` when given.
pub struct Claims<'a> {
    pub issuer: &'a str,
    pub identity_url: &'a str,
    pub client_id: &'a str,
    pub user_id: &'a str,
    pub org_id: &'a str,
    pub username: &'a str,
    pub access_token: &'a str,
    pub nonce: Option<&'a str>,
    pub now: chrono::DateTime<chrono::Utc>,
}

impl Claims<'_> {
    pub fn to_json(&self) -> Value {
        let digest = Sha256::digest(self.access_token.as_bytes());
        let at_hash = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16]);
        let iat = self.now.timestamp();
        let mut c = json!({
            "iss": self.issuer,
            "sub": self.identity_url,
            "aud": self.client_id,
            "iat": iat,
            "exp": iat + ID_TOKEN_TTL_SECS,
            "auth_time": iat,
            "at_hash": at_hash,
            "user_id": self.user_id,
            "organization_id": self.org_id,
            "preferred_username": self.username,
            "email": self.username,
        });
        if let Some(n) = self.nonce {
            c["nonce"] = json!(n);
        }
        c
    }
}
