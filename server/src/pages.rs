//! Page rendering shared by the customer pages: branding, the message page, and [`render`],
//! which every page goes through.

use askama::Template;
use axum::response::{Html, IntoResponse, Response};
use http::StatusCode;

use crate::AppState;
use crate::error::AppError;

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

/// Renders a template with a status; a render failure becomes the generic error page.
pub fn render<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => AppError::from(e).into_response(),
    }
}
