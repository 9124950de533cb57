//! What a notice's message shows: the template context built from the org, its contact, its
//! link and the configuration.

use chrono::{DateTime, Utc};

use super::render::EmailContext;
use crate::entity::org;

/// The date a wave's deadline is shown as in mail.
pub(super) fn deadline_text(d: DateTime<Utc>) -> String {
    d.format("%B %-d, %Y %H:%M UTC").to_string()
}

/// Everything a message shows, from the org, its contact, its link and the configuration.
pub(super) fn context(
    config: &crate::config::Config,
    o: &org::Model,
    contact_name: Option<String>,
    link_url: String,
    expires: DateTime<Utc>,
    deadline: Option<String>,
) -> EmailContext {
    let p = &config.partner;
    EmailContext {
        contact_name,
        org_name: o.name.clone(),
        org_id: o.id.to_string(),
        org_state: o.state.to_string(),
        partner: p.name.clone(),
        partners: crate::wording::possessive(&p.name),
        orgs: crate::wording::possessive(&o.name),
        support_email: p.support_email.clone(),
        link_url,
        expires: expires.format("%B %-d, %Y").to_string(),
        by: deadline
            .as_ref()
            .map(|d| format!(" by {d}"))
            .unwrap_or_default(),
        deadline_note: deadline
            .as_ref()
            .map(|d| format!(" (deadline {d})"))
            .unwrap_or_default(),
        egress_ranges: p.egress_range_texts(),
        upcoming_ranges: crate::ip_ranges::published(p, Utc::now().date_naive())
            .1
            .iter()
            .map(|r| {
                format!(
                    "{} from {}",
                    r.cidr,
                    r.from
                        .map(|d| d.format("%B %-d, %Y").to_string())
                        .unwrap_or_default()
                )
            })
            .collect(),
        ip_ranges_url: format!(
            "{}/ip-ranges",
            config.base_url.as_str().trim_end_matches('/')
        ),
        install_url: config.legacy.install_url.clone().unwrap_or_default(),
        package_version: config
            .legacy
            .package_min_version
            .clone()
            .unwrap_or_default(),
    }
}
