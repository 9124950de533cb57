//! Reading one metadata file into a small owned element tree that keeps line numbers.
//!
//! roxmltree does the parsing (DTDs refused, so no entity expansion); this module only copies
//! what the rules need: local element names (the Metadata API namespace is ignored), direct
//! text, and where each element and its text start.

/// One element of a metadata file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// Local name, without namespace prefix.
    pub name: String,
    /// 1-based line of the start tag.
    pub line: u32,
    /// The element's direct text, untrimmed (child elements' text is not included).
    pub text: String,
    /// 1-based line where that text starts (the start tag's line when there is none).
    pub text_line: u32,
    pub children: Vec<Element>,
}

/// Why a file is not well-formed XML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError {
    /// 1-based line of the problem.
    pub line: u32,
    pub message: String,
}

impl Element {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child named `name`, in document order.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The direct text without surrounding white space.
    pub fn trimmed(&self) -> &str {
        self.text.trim()
    }

    /// This element and every descendant, depth first.
    pub fn descendants(&self) -> Vec<&Element> {
        let mut out = vec![self];
        for c in &self.children {
            out.extend(c.descendants());
        }
        out
    }
}

/// Parses a whole file; the root element comes back.
pub fn parse(text: &str) -> Result<Element, XmlError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let doc = roxmltree::Document::parse(text).map_err(|e| XmlError {
        line: e.pos().row,
        message: e.to_string(),
    })?;
    Ok(build(&doc, doc.root_element()))
}

fn build(doc: &roxmltree::Document<'_>, node: roxmltree::Node<'_, '_>) -> Element {
    let line = doc.text_pos_at(node.range().start).row;
    let mut text = String::new();
    let mut text_line = None;
    let mut children = Vec::new();
    for child in node.children() {
        if child.is_element() {
            children.push(build(doc, child));
        } else if child.is_text()
            && let Some(t) = child.text()
        {
            if text_line.is_none() {
                text_line = Some(doc.text_pos_at(child.range().start).row);
            }
            text.push_str(t);
        }
    }
    Element {
        name: node.tag_name().name().to_owned(),
        line,
        text,
        text_line: text_line.unwrap_or(line),
        children,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_keep_their_lines_and_the_namespace_is_ignored() {
        let xml = "<?xml version=\"1.0\"?>\n<A xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n  <b>true</b>\n  <c>\nx\ny</c>\n</A>\n";
        let root = parse(xml).unwrap();
        assert_eq!((root.name.as_str(), root.line), ("A", 2));
        let b = root.child("b").unwrap();
        assert_eq!((b.trimmed(), b.line), ("true", 3));
        let c = root.child("c").unwrap();
        assert_eq!((c.line, c.text_line, c.text.as_str()), (4, 4, "\nx\ny"));
    }

    #[test]
    fn a_mismatched_tag_is_an_error_on_its_line() {
        let err = parse("<A>\n<b>x</c>\n</A>").unwrap_err();
        assert_eq!(err.line, 2, "{}", err.message);
    }

    #[test]
    fn a_doctype_is_refused() {
        assert!(parse("<!DOCTYPE A [<!ENTITY x \"y\">]>\n<A>&x;</A>").is_err());
    }

    #[test]
    fn a_byte_order_mark_is_accepted() {
        assert_eq!(parse("\u{feff}<A/>").unwrap().name, "A");
    }
}
