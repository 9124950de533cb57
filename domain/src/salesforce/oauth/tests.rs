//! Unit tests of `oauth`.

use super::*;
use crate::salesforce::answer::{RawAnswer, SfFields, id_token_nonce, signature_ok};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

#[test]
fn pkce_verifier_is_base64url_of_allowed_length() {
    let p = Pkce::generate();
    let v = p.verifier.expose_secret();
    assert!((43..=128).contains(&v.len()));
    assert!(
        v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(<Sha256 as sha2::Digest>::digest(v.as_bytes()));
    assert_eq!(p.challenge, expected);
}

#[test]
fn signature_matches_salesforce_definition() {
    let secret = SecretString::from("s3cr3t".to_owned());
    let id = "https://login.salesforce.com/id/00D4c0000008cs2EAA/0054c000000etGWAAY";
    let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cr3t").unwrap();
    mac.update(format!("{id}1668791215099").as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert!(signature_ok(&secret, id, "1668791215099", &sig));
    assert!(!signature_ok(&secret, id, "1668791215098", &sig));
}

#[test]
fn authorize_url_asks_for_login_and_consent_with_s256() {
    let login = LoginUrl::parse("https://test.salesforce.com", &[]).unwrap();
    let u = authorize_url(&AuthorizeRequest {
        login: &login,
        client_id: "cid",
        redirect_uri: "https://reauth.example/oauth/callback",
        scopes: &["api".into(), "refresh_token".into()],
        state: "st",
        nonce: "n",
        code_challenge: "ch",
        login_hint: None,
    });
    let parsed = url::Url::parse(&u).unwrap();
    assert_eq!(parsed.path(), "/services/oauth2/authorize");
    let q: std::collections::HashMap<_, _> = parsed.query_pairs().into_owned().collect();
    assert_eq!(q["prompt"], "login consent");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["scope"], "api refresh_token");
    assert!(
        !q.contains_key("nonce"),
        "nonce belongs to OpenID Connect: not sent without openid"
    );
}

#[test]
fn authorize_url_sends_the_nonce_only_with_openid() {
    let login = LoginUrl::parse("https://login.salesforce.com", &[]).unwrap();
    let scopes = ["api".to_owned(), "refresh_token".into(), "openid".into()];
    let u = authorize_url(&AuthorizeRequest {
        login: &login,
        client_id: "cid",
        redirect_uri: "https://reauth.example/oauth/callback",
        scopes: &scopes,
        state: "st",
        nonce: "n-123",
        code_challenge: "ch",
        login_hint: None,
    });
    let q: std::collections::HashMap<_, _> = url::Url::parse(&u)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(q["nonce"], "n-123");
}

fn client(secret: Option<&str>) -> SfClient {
    let _already = rustls::crypto::ring::default_provider().install_default();
    SfClient {
        http: reqwest::Client::new(),
        client_id: "cid".into(),
        secrets: secret
            .map(|s| SecretString::from(s.to_owned()))
            .into_iter()
            .collect(),
        extra_hosts: vec![],
    }
}

fn signed(secret: &str, id: &str, issued: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{id}{issued}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

const ID: &str = "https://login.salesforce.com/id/00D4c0000008cs2EAA/0054c000000etGWAAY";

#[test]
fn a_clean_answer_has_no_anomalies() {
    let g = client(Some("s"))
        .check(
            RawAnswer {
                access_token: Some("at".into()),
                refresh_token: Some("rt".into()),
                scope: Some("api refresh_token".into()),
                fields: SfFields {
                    instance_url: Some("https://acme.my.salesforce.com".into()),
                    id: Some(ID.into()),
                    issued_at: Some("1668791215099".into()),
                    signature: Some(signed("s", ID, "1668791215099")),
                    id_token: None,
                },
            },
            Some(&SecretString::from("s".to_owned())),
        )
        .unwrap();
    assert!(g.anomalies.is_empty(), "{:?}", g.anomalies);
    assert_eq!(g.scopes, ["api", "refresh_token"]);
    assert!(g.id.is_some() && g.instance_url.is_some());
}

#[test]
fn a_rotated_token_is_kept_whatever_else_looks_wrong() {
    let g = client(Some("s"))
        .check(
            RawAnswer {
                access_token: Some("at".into()),
                refresh_token: Some("rt-new".into()),
                scope: None,
                fields: SfFields {
                    instance_url: Some("https://acme.my.salesforce-new.example".into()),
                    id: Some(
                        "https://login.unknown.example/id/00D4c0000008cs2EAA/0054c000000etGWAAY"
                            .into(),
                    ),
                    issued_at: Some("yesterday".into()),
                    signature: Some("bm90IGl0".into()),
                    id_token: None,
                },
            },
            Some(&SecretString::from("s".to_owned())),
        )
        .unwrap();
    assert_eq!(g.refresh_token.unwrap().expose_secret(), "rt-new");
    assert!(g.id.is_none() && g.instance_url.is_none());
    assert_eq!(g.anomalies.len(), 4, "{:?}", g.anomalies);
}

#[test]
fn an_answer_without_an_access_token_still_hands_back_its_refresh_token() {
    let raw =
        RawAnswer::from_body(br#"{"refresh_token":"rt-new","issued_at":1668791215099}"#).unwrap();
    match client(None).check(raw, None) {
        Err(SfError::Salvaged { refresh_token, .. }) => {
            assert_eq!(refresh_token.expose_secret(), "rt-new")
        }
        other => panic!("{other:?}"),
    }
    assert!(RawAnswer::from_body(b"<html>").is_none());
}

#[test]
fn the_nonce_is_read_from_an_id_token() {
    let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let jwt = format!(
        "{}.{}.sig",
        enc(r#"{"alg":"HS256"}"#),
        enc(r#"{"sub":"x","nonce":"n-1"}"#)
    );
    assert_eq!(id_token_nonce(&jwt).as_deref(), Some("n-1"));
    assert_eq!(id_token_nonce("garbage"), None);
}
