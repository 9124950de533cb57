//! Page rendering shared by the customer pages: branding, the message page, and the opaque
//! error page.

use askama::Template;
use axum::response::{Html, IntoResponse, Response};
use http::StatusCode;

use crate::AppState;

/// What every page shows of the partner.
#[derive(Clone, Debug)]
pub struct Brand {
    pub name: String,
    pub logo_url: String,
    pub support_email: String,
}

impl Brand {
    /// The partner's name in the possessive (`Example Integrations'`, `Acme's`).
    pub fn possessive(&self) -> String {
        domain::wording::possessive(&self.name)
    }

    pub fn from_state(s: &AppState) -> Self {
        let p = &s.config.partner;
        Self {
            name: p.name.clone(),
            logo_url: p.logo_url.clone(),
            support_email: p.support_email.clone(),
        }
    }
}

/// A button that posts somewhere.
pub struct Action {
    pub url: String,
    pub label: String,
}

/// A page that explains what happened and what to do next.
#[derive(Template)]
#[template(path = "reconsent/message.html")]
pub struct Message {
    pub brand: Brand,
    pub title: String,
    /// ok | warn | bad
    pub tone: &'static str,
    pub paragraphs: Vec<String>,
    pub action: Option<Action>,
    pub retry_url: Option<String>,
    pub csrf: String,
}

impl Message {
    pub fn new(
        state: &AppState,
        tone: &'static str,
        title: impl Into<String>,
        paragraphs: Vec<String>,
    ) -> Self {
        Self {
            brand: Brand::from_state(state),
            title: title.into(),
            tone,
            paragraphs,
            action: None,
            retry_url: None,
            csrf: String::new(),
        }
    }
}

/// Renders a template with a status; a render failure becomes the opaque error page.
pub fn render<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed to render");
            internal_error()
        }
    }
}

/// The page for anything that went wrong on our side: no details, which are logged instead.
pub fn internal_error() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Html("<!doctype html><title>Something went wrong</title><h1>Something went wrong on our side</h1><p>Please try again in a few minutes. If it keeps happening, contact the sender of your link.</p>"),
    )
        .into_response()
}

/// An error at a handler boundary: logged once with context, shown as the opaque page.
pub struct AppError(pub String);

impl<E: std::fmt::Display> From<E> for AppError {
    fn from(e: E) -> Self {
        Self(e.to_string())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        tracing::error!(error = %self.0, "request failed");
        internal_error()
    }
}
