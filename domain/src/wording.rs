//! Small rules of English that pages, mail and the command line share.

/// The possessive of a name: `Acme's`, but `Example Integrations'` for a name ending in s.
pub fn possessive(name: &str) -> String {
    let name = name.trim_end();
    if name.ends_with(['s', 'S']) {
        format!("{name}'")
    } else {
        format!("{name}'s")
    }
}

/// `1 row`, `0 rows`, `4 rows`: a count with its noun (regular plurals only).
pub fn count(n: u64, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

/// A clause as a sentence of its own: `the sign-in took too long` → `The sign-in took too long.`
pub fn sentence(clause: &str) -> String {
    let clause = clause.trim().trim_end_matches('.');
    let mut chars = clause.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_ending_in_s_takes_only_an_apostrophe() {
        assert_eq!(possessive("Example Integrations"), "Example Integrations'");
        assert_eq!(possessive("SIEMENS"), "SIEMENS'");
        assert_eq!(possessive("Acme Corp"), "Acme Corp's");
        assert_eq!(
            possessive("Acme Corp (UAT sandbox)"),
            "Acme Corp (UAT sandbox)'s"
        );
    }

    #[test]
    fn counts_agree_with_their_noun() {
        assert_eq!(count(0, "row"), "0 rows");
        assert_eq!(count(1, "row"), "1 row");
        assert_eq!(count(4, "org"), "4 orgs");
    }

    #[test]
    fn a_clause_becomes_a_sentence() {
        assert_eq!(
            sentence("no sign-in is in progress in this browser"),
            "No sign-in is in progress in this browser."
        );
        assert_eq!(sentence("done."), "Done.");
        assert_eq!(sentence(""), "");
    }
}
