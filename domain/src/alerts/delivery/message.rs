//! What an alert says: the headline and text a person reads (mail body, the webhook's `text`),
//! the webhook's JSON body and its signature.

use hmac::{Hmac, Mac};

use crate::config::Config;
use crate::entity::alert;

/// One line a person reads first: severity, kind, where, what.
pub fn headline(a: &alert::Model, org_name: Option<&str>) -> String {
    let r#where = match (&a.org_id, org_name) {
        (Some(id), Some(name)) => format!("{name} ({id})"),
        (Some(id), None) => id.to_string(),
        (None, _) => match a.affected_orgs {
            Some(n) => format!(
                "partner-wide, {}",
                crate::wording::count(u64::try_from(n).unwrap_or(0), "org")
            ),
            None => "partner-wide".to_owned(),
        },
    };
    format!("[{}] {} — {}", a.severity.as_str(), a.kind, r#where)
}

/// The alert as a person reads it (mail body and the webhook's `text`).
pub fn text(config: &Config, a: &alert::Model, org_name: Option<&str>) -> String {
    let mut t = format!("{}\n\n{}\n", headline(a, org_name), a.message);
    if a.occurrences > 1 {
        t.push_str(&format!(
            "\nSeen {} times, last at {}.\n",
            a.occurrences,
            a.last_seen_at
                .unwrap_or(a.created_at)
                .format("%Y-%m-%d %H:%M UTC")
        ));
    }
    t.push_str(&format!(
        "\nResolves: {}\nDashboard: {}/security\n",
        crate::alerts::resolves_when(&a.kind),
        config.base_url.as_str().trim_end_matches('/')
    ));
    t
}

/// The webhook body.
pub fn payload(config: &Config, a: &alert::Model, org_name: Option<&str>) -> serde_json::Value {
    serde_json::json!({
        "text": text(config, a, org_name),
        "alert": {
            "id": a.id,
            "kind": a.kind,
            "severity": a.severity.as_str(),
            "org_id": a.org_id.as_ref().map(|o| o.as_str()),
            "org_name": org_name,
            "affected_orgs": a.affected_orgs,
            "message": a.message,
            "details": a.details,
            "occurrences": a.occurrences,
            "created_at": a.created_at.to_rfc3339(),
            "last_seen_at": a.last_seen_at.map(|t| t.to_rfc3339()),
            "resolves": crate::alerts::resolves_when(&a.kind),
        },
    })
}

/// `sha256=HEX` of HMAC-SHA256(secret, "{timestamp}.{body}").
pub fn signature(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "sha256={}",
        crate::security::crypto::to_hex(&mac.finalize().into_bytes())
    )
}
