//! How an event reads to people: one sentence per kind (wording in `templates/events/line.txt`),
//! the actor's name as a person would say it, and the raw details kept for a second look. A kind
//! without a sentence still reads, generically, so a new kind never breaks a page.

use askama::Template;
use chrono::{DateTime, Utc};

use super::EventView;

/// An event ready to show: when, who, what happened, and the stored details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLine {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// "reauth", "ana@example.com", "Customer admin", "API key billing" …
    pub actor: String,
    pub org_id: Option<String>,
    pub kind: String,
    /// What happened, in a sentence.
    pub sentence: String,
    /// The stored details, pretty-printed JSON.
    pub details: String,
}

impl From<EventView> for EventLine {
    fn from(e: EventView) -> Self {
        Self {
            sentence: sentence(&e.kind, &e.details),
            actor: actor_label(&e.actor_kind, e.actor.as_deref()),
            details: serde_json::to_string_pretty(&e.details).unwrap_or_default(),
            id: e.id,
            at: e.at,
            org_id: e.org_id.map(|o| o.to_string()),
            kind: e.kind,
        }
    }
}

/// Who caused an event, as a person would say it.
pub fn actor_label(actor_kind: &str, name: Option<&str>) -> String {
    let name = name.map(str::trim).filter(|n| !n.is_empty());
    match (actor_kind, name) {
        ("system", _) => "reauth".into(),
        ("staff", Some(n)) => n.into(),
        ("staff", None) => "A staff user".into(),
        // The consent flow and link visits record a role, not a person.
        ("customer", None | Some("customer admin" | "link visitor")) => "Customer admin".into(),
        ("customer", Some(n)) => format!("{n} (customer admin)"),
        ("cli", Some(n)) => format!("{n} (command line)"),
        ("cli", None) => "Command line".into(),
        ("api_key", Some(n)) => format!("API key {n}"),
        ("api_key", None) => "An API key".into(),
        (other, Some(n)) => format!("{n} ({other})"),
        (other, None) => other.into(),
    }
}

/// What an event says, in one sentence ending in a full stop.
pub fn sentence(kind: &str, details: &serde_json::Value) -> String {
    let line = Line {
        kind,
        d: Details(details),
        generic: generic(kind),
    };
    let mut s = match line.render() {
        Ok(s) => s.split_whitespace().collect::<Vec<_>>().join(" "),
        Err(_) => line.generic,
    };
    if !s.ends_with(['.', '!', '?']) {
        s.push('.');
    }
    s
}

/// The sentence for a kind the wording does not know: `org.some_thing` → "Org: some thing".
pub fn generic(kind: &str) -> String {
    let (area, what) = kind.split_once('.').unwrap_or(("", kind));
    let words = |s: &str| s.replace('_', " ");
    let mut area = words(area);
    if let Some(first) = area.get(..1) {
        area = format!("{}{}", first.to_uppercase(), &area[1..]);
    }
    if area.is_empty() {
        words(what)
    } else {
        format!("{area}: {}", words(what))
    }
}

#[derive(Template)]
#[template(path = "events/line.txt", escape = "none")]
struct Line<'a> {
    kind: &'a str,
    d: Details<'a>,
    generic: String,
}

/// Read access to an event's details for the wording.
struct Details<'a>(&'a serde_json::Value);

impl Details<'_> {
    /// A detail as text: strings as they are, lists joined with ", ", absent as "".
    fn s(&self, key: &str) -> String {
        text(self.0.get(key))
    }

    /// A detail with underscores as spaces (`needs_reauth` → `needs reauth`).
    fn words(&self, key: &str) -> String {
        self.s(key).replace('_', " ")
    }

    /// A timestamp detail as `2026-11-24 09:30 UTC` (as stored, if it does not parse).
    fn time(&self, key: &str) -> String {
        let s = self.s(key);
        DateTime::parse_from_rfc3339(&s)
            .map(|t| {
                t.with_timezone(&Utc)
                    .format("%Y-%m-%d %H:%M UTC")
                    .to_string()
            })
            .unwrap_or(s)
    }

    fn b(&self, key: &str) -> bool {
        self.0.get(key).and_then(serde_json::Value::as_bool) == Some(true)
    }

    fn has(&self, key: &str) -> bool {
        !self.s(key).is_empty()
    }
}

fn text(v: Option<&serde_json::Value>) -> String {
    use serde_json::Value;
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| text(Some(i)))
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", "),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| format!("{} {}", k.replace('_', " "), text(Some(v))))
            .collect::<Vec<_>>()
            .join(", "),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_wrong_org_reads_as_a_sentence_naming_both_orgs() {
        let s = sentence(
            "consent.wrong_org",
            &json!({ "expected": "00D000000000MoE", "used": "00D000000000MsE", "revoked": true }),
        );
        assert_eq!(
            s,
            "Signed in to the wrong org 00D000000000MsE (expected 00D000000000MoE); the grant was revoked."
        );
    }

    #[test]
    fn an_unknown_kind_reads_generically() {
        assert_eq!(
            sentence("thing.done_twice", &json!({ "x": 1 })),
            "Thing: done twice."
        );
    }

    #[test]
    fn a_state_change_reads_with_words_not_codes() {
        let s = sentence(
            "org.state_changed",
            &json!({ "from": "not_started", "to": "needs_attention", "reason": "bounced" }),
        );
        assert_eq!(
            s,
            "State changed from not started to needs attention: bounced."
        );
    }

    #[test]
    fn the_consent_flows_customer_reads_as_customer_admin() {
        assert_eq!(
            actor_label("customer", Some("customer admin")),
            "Customer admin"
        );
        assert_eq!(actor_label("system", None), "reauth");
        assert_eq!(
            actor_label("staff", Some("ana@example.com")),
            "ana@example.com"
        );
    }

    /// Every kind passed to `events::record` (or built as a `NewEvent`) anywhere in the
    /// workspace's production code has its own sentence, not the generic one.
    #[test]
    fn every_recorded_event_kind_has_a_sentence() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut kinds = std::collections::BTreeSet::new();
        for dir in ["domain/src", "server/src", "worker/src", "src"] {
            collect_kinds(&root.join(dir), &mut kinds);
        }
        assert!(kinds.len() > 40, "the scan found only {kinds:?}");
        let missing: Vec<_> = kinds
            .iter()
            .filter(|k| sentence(k, &json!({})) == format!("{}.", generic(k)))
            .collect();
        assert!(
            missing.is_empty(),
            "event kinds without a sentence: {missing:?}"
        );
    }

    /// String literals shaped like event kinds (`area.what`) in `record(…)` calls and
    /// `kind: "…".into()` fields.
    fn collect_kinds(dir: &std::path::Path, out: &mut std::collections::BTreeSet<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                collect_kinds(&p, out);
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let src = std::fs::read_to_string(&p).unwrap_or_default();
            for (start, _) in src.match_indices("record(") {
                let call = call_text(&src[start + "record(".len()..]);
                // The kind is the fifth argument; an `if` may pick between literals.
                let Some(arg) = top_level_args(call).get(4).copied() else {
                    continue;
                };
                if arg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    // A variable: the function chose it from `("area.what", …)` pairs above.
                    let from = src[..start].rfind("fn ").unwrap_or(0);
                    for line in src[from..start].lines() {
                        let t = line.trim_start().trim_start_matches('(');
                        if t.starts_with('"') {
                            kinds_in(t.split(',').next().unwrap_or(""), out);
                        }
                    }
                } else {
                    kinds_in(arg, out);
                }
            }
            for (start, _) in src.match_indices("kind: \"") {
                let rest = &src[start + "kind: \"".len()..];
                let lit = rest.split('"').next().unwrap_or("");
                if rest[lit.len()..].starts_with("\".into()") {
                    kinds_in(&format!("\"{lit}\""), out);
                }
            }
        }
    }

    fn call_text(s: &str) -> &str {
        let mut depth = 1;
        for (i, c) in s.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        return &s[..i];
                    }
                }
                _ => {}
            }
        }
        s
    }

    fn top_level_args(s: &str) -> Vec<&str> {
        let (mut depth, mut from, mut out) = (0, 0, Vec::new());
        for (i, c) in s.char_indices() {
            match c {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => depth -= 1,
                ',' if depth == 0 => {
                    out.push(s[from..i].trim());
                    from = i + 1;
                }
                _ => {}
            }
        }
        out.push(s[from..].trim());
        out
    }

    fn kinds_in(s: &str, out: &mut std::collections::BTreeSet<String>) {
        for lit in s.split('"').skip(1).step_by(2) {
            let shaped = lit.split_once('.').is_some_and(|(a, b)| {
                !a.is_empty()
                    && !b.is_empty()
                    && lit
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.')
            });
            if shaped {
                out.insert(lit.to_owned());
            }
        }
    }
}
