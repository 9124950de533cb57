//! Security headers on every response, and CSRF tokens for forms.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;
use subtle::ConstantTimeEq;
use tower_sessions::Session;

use crate::AppState;

pub(crate) const CSRF_KEY: &str = "csrf";

/// The Content-Security-Policy. `form-action` must allow the Salesforce login hosts, or browsers
/// block the redirect to Salesforce that follows "Continue to Salesforce".
pub(crate) fn csp(extra_login_hosts: &[String]) -> String {
    let mut form_action = String::from(
        "'self' https://*.salesforce.com https://*.force.com https://*.salesforce.mil",
    );
    for h in extra_login_hosts {
        form_action.push_str(&format!(" http://{h} https://{h}"));
    }
    format!(
        "default-src 'self'; img-src 'self' https: data:; style-src 'self'; script-src 'self'; \
         form-action {form_action}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )
}

pub(crate) async fn headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert("content-security-policy", state.csp.clone());
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    // Pages are never stored by browsers or proxies: several show a secret once (a new link, an
    // API key, a one-time password, a TOTP secret, recovery codes) and all show customer data.
    let html = h
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if html && !h.contains_key(http::header::CACHE_CONTROL) {
        h.insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        );
    }
    if state.config.base_url.scheme() == "https" {
        h.insert(
            "strict-transport-security",
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    res
}

/// The session's CSRF token, created on first use.
pub(crate) async fn csrf_token(
    session: &Session,
) -> Result<String, tower_sessions::session::Error> {
    if let Some(t) = session.get::<String>(CSRF_KEY).await? {
        return Ok(t);
    }
    use base64::Engine as _;
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    let t = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    session.insert(CSRF_KEY, &t).await?;
    Ok(t)
}

/// Whether a submitted token matches the session's (constant time).
pub(crate) async fn csrf_ok(session: &Session, submitted: &str) -> bool {
    match session.get::<String>(CSRF_KEY).await {
        Ok(Some(t)) => {
            !submitted.is_empty() && bool::from(t.as_bytes().ct_eq(submitted.as_bytes()))
        }
        _ => false,
    }
}
