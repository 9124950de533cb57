//! Security headers on every response, CSRF tokens for forms, and the only ways to redirect.

use axum::response::{IntoResponse, Redirect, Response};
use http::{HeaderMap, HeaderValue, header};
use subtle::ConstantTimeEq;
use tower_sessions::Session;

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

/// The security headers every response carries, their values built once at start-up.
pub(crate) struct SecurityHeaders {
    csp: HeaderValue,
    /// `Strict-Transport-Security`, when the site is served over HTTPS.
    hsts: bool,
}

impl SecurityHeaders {
    /// The headers for a site whose Salesforce login hosts include `extra_login_hosts`.
    pub(crate) fn new(
        extra_login_hosts: &[String],
        https: bool,
    ) -> Result<Self, http::header::InvalidHeaderValue> {
        Ok(Self {
            csp: HeaderValue::from_str(&csp(extra_login_hosts))?,
            hsts: https,
        })
    }

    /// Adds the headers to a response's.
    pub(crate) fn apply(&self, h: &mut HeaderMap) {
        h.reserve(6);
        h.insert(header::CONTENT_SECURITY_POLICY, self.csp.clone());
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        // Pages are never stored by browsers or proxies: several show a secret once (a new link,
        // an API key, a one-time password, a TOTP secret, recovery codes) and all show customer
        // data.
        let html = h
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html"));
        if html && !h.contains_key(header::CACHE_CONTROL) {
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        if self.hsts {
            h.insert(
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static("max-age=31536000"),
            );
        }
    }
}

/// The session's CSRF token, created on first use.
pub(crate) async fn csrf_token(
    session: &Session,
) -> Result<String, tower_sessions::session::Error> {
    if let Some(t) = session.get::<String>(CSRF_KEY).await? {
        return Ok(t);
    }
    let t = domain::security::crypto::random_token();
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

/// `303 See Other` to a path of this site: how every handler redirects (clippy refuses a bare
/// `Redirect::to` anywhere else). A target that is not a local path (`//evil.example`,
/// `https://…`, `/\\evil`) becomes `/`, so no redirect leaves the site by mistake.
pub(crate) fn redirect(target: &str) -> Response {
    #[expect(
        clippy::disallowed_methods,
        reason = "the one redirect helper; the target is checked"
    )]
    Redirect::to(local_path(target).unwrap_or("/")).into_response()
}

/// The redirect to Salesforce's authorize page, the one redirect off this site: its URL is built
/// by the domain on a login host the configuration allows.
pub(crate) fn redirect_to_salesforce(authorize_url: &str) -> Response {
    #[expect(
        clippy::disallowed_methods,
        reason = "the authorize URL's host is a checked Salesforce login host"
    )]
    Redirect::to(authorize_url).into_response()
}

/// `target` if it is a path on this origin, for a redirect or a `next` parameter.
pub(crate) fn local_path(target: &str) -> Option<&str> {
    // Browsers drop tabs and newlines and read `\` as `/` before resolving a URL, so `/\t/evil`
    // and `/\\evil` are `//evil`: refuse any control character and any backslash outright.
    if target.chars().any(|c| c.is_control() || c == '\\')
        || !target.starts_with('/')
        || target.starts_with("//")
    {
        return None;
    }
    // What is left must resolve to this origin.
    let base = url::Url::parse("https://reauth.invalid/").ok()?;
    let joined = base.join(target).ok()?;
    (joined.origin() == base.origin()).then_some(target)
}
