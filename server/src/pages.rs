//! Page rendering shared by the customer pages: branding, and [`render`], which every page
//! goes through.

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

/// Renders a template with a status; a render failure becomes the generic error page.
pub fn render<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => AppError::from(e).into_response(),
    }
}
