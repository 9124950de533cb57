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
}
