//! Rendering a notice: one context for every kind, and per kind a subject and two bodies from
//! `templates/email/<kind>/{subject.txt,body.txt,body.html}` (shared layouts and sentences in
//! `templates/email/_*`). The wording lives in the templates; this module only gathers the facts
//! they show. [`render`] matches on [`NoticeKind`], so a kind without templates does not compile.

use askama::Template;

use crate::entity::notice::NoticeKind;
use crate::mail::Rendered;

/// The facts every email may show.
pub struct EmailContext {
    pub contact_name: Option<String>,
    pub org_name: String,
    pub org_id: String,
    /// The org's state, for the CSM's escalation.
    pub org_state: String,
    pub partner: String,
    /// The partner's name in the possessive (`Example Integrations'`).
    pub partners: String,
    /// The org's name in the possessive.
    pub orgs: String,
    pub support_email: String,
    /// The re-auth link (empty for kinds without one).
    pub link_url: String,
    /// When the link stops working.
    pub expires: String,
    /// ` by <deadline>`, or empty without a deadline.
    pub by: String,
    /// ` (deadline <deadline>)`, or empty.
    pub deadline_note: String,
    pub egress_ranges: Vec<String>,
    /// Upcoming ranges with their day: `198.51.100.0/28 from January 15, 2027`.
    pub upcoming_ranges: Vec<String>,
    /// The public page that explains the ranges (`…/ip-ranges`).
    pub ip_ranges_url: String,
    /// For `install_package`: where the admin installs the package with the External Client
    /// App, and the lowest version that contains it (`legacy.install_url`,
    /// `legacy.package_min_version`).
    pub install_url: String,
    pub package_version: String,
}

impl EmailContext {
    /// The re-auth link's origin (`https://reauth.example.com`), so a message can tell the
    /// reader which address a genuine link starts with; empty without a link.
    pub fn link_origin(&self) -> String {
        url::Url::parse(&self.link_url)
            .ok()
            .map(|u| u.origin().ascii_serialization())
            .filter(|o| o != "null")
            .unwrap_or_default()
    }
}

/// One kind's three templates.
macro_rules! kind_templates {
    ($module:ident, $subject:literal, $text:literal, $html:literal) => {
        mod $module {
            use askama::Template;

            use super::EmailContext;

            #[derive(Template)]
            #[template(path = $subject, escape = "none")]
            pub(super) struct Subject<'a> {
                pub c: &'a EmailContext,
            }

            #[derive(Template)]
            #[template(path = $text, escape = "none")]
            pub(super) struct Text<'a> {
                pub c: &'a EmailContext,
            }

            #[derive(Template)]
            #[template(path = $html)]
            pub(super) struct Html<'a> {
                pub c: &'a EmailContext,
            }
        }
    };
}

kind_templates!(
    announce,
    "email/announce/subject.txt",
    "email/announce/body.txt",
    "email/announce/body.html"
);
kind_templates!(
    remind,
    "email/remind/subject.txt",
    "email/remind/body.txt",
    "email/remind/body.html"
);
kind_templates!(
    final_notice,
    "email/final/subject.txt",
    "email/final/body.txt",
    "email/final/body.html"
);
kind_templates!(
    escalate,
    "email/escalate/subject.txt",
    "email/escalate/body.txt",
    "email/escalate/body.html"
);
kind_templates!(
    confirmation,
    "email/confirmation/subject.txt",
    "email/confirmation/body.txt",
    "email/confirmation/body.html"
);
kind_templates!(
    fresh_link,
    "email/fresh_link/subject.txt",
    "email/fresh_link/body.txt",
    "email/fresh_link/body.html"
);
kind_templates!(
    link,
    "email/link/subject.txt",
    "email/link/body.txt",
    "email/link/body.html"
);
kind_templates!(
    install_package,
    "email/install_package/subject.txt",
    "email/install_package/body.txt",
    "email/install_package/body.html"
);
kind_templates!(
    reauth_needed,
    "email/reauth_needed/subject.txt",
    "email/reauth_needed/body.txt",
    "email/reauth_needed/body.html"
);

kind_templates!(
    incident,
    "email/incident/subject.txt",
    "email/incident/body.txt",
    "email/incident/body.html"
);

kind_templates!(
    ip_change,
    "email/ip_change/subject.txt",
    "email/ip_change/body.txt",
    "email/ip_change/body.html"
);

/// Renders one kind's message from its context.
pub fn render(kind: NoticeKind, c: &EmailContext) -> Result<Rendered, askama::Error> {
    macro_rules! with {
        ($m:ident) => {
            Rendered {
                subject: $m::Subject { c }.render()?.trim().to_owned(),
                text: $m::Text { c }.render()?,
                html: $m::Html { c }.render()?,
            }
        };
    }
    Ok(match kind {
        NoticeKind::Announce => with!(announce),
        NoticeKind::Remind => with!(remind),
        NoticeKind::Final => with!(final_notice),
        NoticeKind::Escalate => with!(escalate),
        NoticeKind::Confirmation => with!(confirmation),
        NoticeKind::FreshLink => with!(fresh_link),
        NoticeKind::Link => with!(link),
        NoticeKind::ReauthNeeded => with!(reauth_needed),
        NoticeKind::IpChange => with!(ip_change),
        NoticeKind::InstallPackage => with!(install_package),
        NoticeKind::Incident => with!(incident),
    })
}
