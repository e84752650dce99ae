//! Writing XML: escaping, a small string builder, and re-serialising a parsed [`Element`].
//!
//! The ITI renderers build their payloads with [`Markup`]; the envelope, fault and MTOM
//! packaging wrap that text. Everything written passes through [`escape`] (`xhuma-xml`, the
//! workspace's one escaper), so request data echoed back (query ids, queryByParameter) cannot
//! inject markup.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::element::Element;

/// The workspace's one escaper (`xhuma-xml`): the five markup characters as entities; tab, LF
/// and CR as character references (attribute-value normalisation would otherwise turn them into
/// spaces); characters XML 1.0 cannot carry at all (C0 controls other than tab, LF and CR;
/// U+FFFE, U+FFFF) as U+FFFD, so a PDS name holding one cannot make the answer ill-formed.
pub use xhuma_xml::escape;

/// A string builder for XML with escaped attributes and text.
#[derive(Debug, Default)]
pub struct Markup {
    out: String,
}

// === impl Markup ===

impl Markup {
    pub fn new() -> Self {
        Self::default()
    }

    /// `<name a="v" …>`.
    pub fn open(&mut self, name: &str, attrs: &[(&str, &str)]) -> &mut Self {
        self.start(name, attrs);
        self.out.push('>');
        self
    }

    /// `<name a="v" …/>`.
    pub fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) -> &mut Self {
        self.start(name, attrs);
        self.out.push_str("/>");
        self
    }

    /// `</name>`.
    pub fn close(&mut self, name: &str) -> &mut Self {
        let _ = write!(self.out, "</{name}>");
        self
    }

    /// `<name a="v">text</name>`.
    pub fn leaf(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) -> &mut Self {
        self.open(name, attrs);
        xhuma_xml::escape_into(&mut self.out, text);
        self.close(name)
    }

    /// Escaped text.
    pub fn text(&mut self, text: &str) -> &mut Self {
        xhuma_xml::escape_into(&mut self.out, text);
        self
    }

    /// Markup that is already well-formed (built by this module).
    pub fn raw(&mut self, xml: &str) -> &mut Self {
        self.out.push_str(xml);
        self
    }

    pub fn finish(self) -> String {
        self.out
    }

    /// What is written so far, leaving the builder empty (to put a large piece after it
    /// without copying it in; see `soap::payload`).
    pub fn take(&mut self) -> String {
        std::mem::take(&mut self.out)
    }

    fn start(&mut self, name: &str, attrs: &[(&str, &str)]) {
        let _ = write!(self.out, "<{name}");
        for (k, v) in attrs {
            let _ = write!(self.out, " {k}=\"{}\"", escape(v));
        }
    }
}

/// Serialises `el` with every namespace it uses declared on its root: `default_ns` elements
/// get no prefix, others get `n1`, `n2`, … (the well-known XML Schema instance namespace
/// keeps `xsi`, because HL7 `xsi:type` values refer to it by name; the XML namespace is always
/// `xml` and never declared). Elements in no namespace are unprefixed too, with `xmlns=""`
/// where the default namespace would otherwise claim them. The output parses back to the same
/// tree (names, attributes, trimmed text; the `envelope` fuzz target checks it), as long as
/// the tree uses at most 128 namespaces: all are declared on the root, and quick-xml reads at
/// most 128 bindings in scope (requests use a handful).
pub fn serialize(el: &Element, default_ns: &str) -> String {
    let mut prefixes = BTreeMap::new();
    collect(el, default_ns, &mut prefixes);
    let mut m = Markup::new();
    write_element(el, default_ns, &prefixes, None, &mut m);
    m.finish()
}

const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

fn collect(el: &Element, default_ns: &str, prefixes: &mut BTreeMap<String, String>) {
    let mut add = |ns: &str| {
        if !ns.is_empty() && ns != XML_NS && !prefixes.contains_key(ns) {
            let p = if ns == XSI {
                "xsi".to_string()
            } else {
                format!("n{}", prefixes.len() + 1)
            };
            prefixes.insert(ns.to_string(), p);
        }
    };
    if &*el.ns != default_ns {
        add(&el.ns);
    }
    // An attribute in the default namespace still needs a prefix: unprefixed attributes are in
    // no namespace.
    for a in &el.attributes {
        add(&a.ns);
    }
    for c in &el.children {
        collect(c, default_ns, prefixes);
    }
}

fn prefix<'a>(ns: &str, p: &'a BTreeMap<String, String>) -> Option<&'a str> {
    if ns == XML_NS {
        return Some("xml");
    }
    p.get(ns).map(String::as_str)
}

/// `scope` is the default namespace in force at `el` (`None` at the root, where nothing is
/// declared yet).
fn write_element(
    el: &Element,
    default_ns: &str,
    p: &BTreeMap<String, String>,
    scope: Option<&str>,
    m: &mut Markup,
) {
    let unprefixed = el.ns.is_empty() || &*el.ns == default_ns;
    let name = match prefix(&el.ns, p) {
        Some(prefix) if !unprefixed => format!("{prefix}:{}", el.local),
        _ => el.local.clone(),
    };
    let mut attrs: Vec<(String, String)> = Vec::new();
    let inner = match scope {
        None => {
            let d = if unprefixed { &*el.ns } else { default_ns };
            attrs.push(("xmlns".into(), d.into()));
            for (ns, prefix) in p {
                attrs.push((format!("xmlns:{prefix}"), ns.clone()));
            }
            d
        }
        Some(s) if unprefixed && &*el.ns != s => {
            attrs.push(("xmlns".into(), el.ns.to_string()));
            &*el.ns
        }
        Some(s) => s,
    };
    for a in &el.attributes {
        let n = if a.ns.is_empty() {
            a.local.clone()
        } else {
            match prefix(&a.ns, p) {
                Some(prefix) => format!("{prefix}:{}", a.local),
                None => continue,
            }
        };
        attrs.push((n, a.value.clone()));
    }
    let borrowed: Vec<(&str, &str)> = attrs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if el.children.is_empty() && el.text.trim().is_empty() {
        m.empty(&name, &borrowed);
        return;
    }
    m.open(&name, &borrowed);
    m.text(el.text.trim());
    for c in &el.children {
        write_element(c, default_ns, p, Some(inner), m);
    }
    m.close(&name);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::soap::element::{Limits, parse};

    // The escaper's own tests (replacement, quotes, line ends, round trip) are in `xhuma-xml`.
    #[test]
    fn markup_escapes_attributes_and_text() {
        let mut m = Markup::new();
        m.leaf("v", &[("k", "\"><x/>")], "</v><y/>\u{1}");
        assert_eq!(
            m.finish(),
            "<v k=\"&quot;&gt;&lt;x/&gt;\">&lt;/v&gt;&lt;y/&gt;\u{FFFD}</v>"
        );
    }

    #[test]
    fn serialize_round_trips_namespaces() {
        let src = r#"<q:a xmlns:q="urn:hl7-org:v3" xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns:o="urn:other"><q:b i:type="INT" value="1"/><o:c>t&amp;u</o:c></q:a>"#;
        let el = parse(src.as_bytes(), Limits::default(), &|_| None).unwrap();
        let out = serialize(&el, "urn:hl7-org:v3");
        let again = parse(out.as_bytes(), Limits::default(), &|_| None).unwrap();
        assert_eq!(again.children[0].attr_ns(XSI, "type"), Some("INT"));
        assert!(again.children[1].is("urn:other", "c"));
        assert_eq!(again.children[1].text, "t&u");
        assert!(out.contains("xsi:type=\"INT\""), "{out}");
    }

    /// The `envelope` fuzz target found that an element in no namespace inside the default one
    /// came back in the default namespace; fixing it showed two more: an attribute in the default
    /// namespace was dropped, and one in the XML namespace (`xml:lang`) was written with an `n1`
    /// prefix bound to it, which no parser accepts.
    #[test]
    fn serialize_keeps_no_namespace_elements_and_default_namespace_attributes() {
        let src = r#"<q:a xmlns:q="urn:hl7-org:v3"><p x="1"><q:b q:k="v" xml:lang="en"/></p><q:c/></q:a>"#;
        let el = parse(src.as_bytes(), Limits::default(), &|_| None).unwrap();
        let out = serialize(&el, "urn:hl7-org:v3");
        let again = parse(out.as_bytes(), Limits::default(), &|_| None).unwrap();
        let p = &again.children[0];
        assert!(p.is("", "p"), "{out}");
        assert_eq!(p.attr("x"), Some("1"));
        let b = &p.children[0];
        assert!(b.is("urn:hl7-org:v3", "b"), "{out}");
        assert_eq!(b.attr_ns("urn:hl7-org:v3", "k"), Some("v"), "{out}");
        assert_eq!(b.attr_ns(XML_NS, "lang"), Some("en"), "{out}");
        assert!(again.children[1].is("urn:hl7-org:v3", "c"), "{out}");

        // An element in no namespace at the root, with the default namespace below it.
        let src = r#"<r><q:b xmlns:q="urn:hl7-org:v3"/></r>"#;
        let el = parse(src.as_bytes(), Limits::default(), &|_| None).unwrap();
        let out = serialize(&el, "urn:hl7-org:v3");
        let again = parse(out.as_bytes(), Limits::default(), &|_| None).unwrap();
        assert!(again.is("", "r"), "{out}");
        assert!(again.children[0].is("urn:hl7-org:v3", "b"), "{out}");
    }
}
