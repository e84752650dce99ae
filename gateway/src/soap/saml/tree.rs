//! The `wsse:Security` header (and, when a signature may cover it, `soap:Body`) as one owned
//! tree: what [`super::assertion`] reads the claims from and what [`super::c14n`] canonicalises
//! for the signatures [`super::dsig`] checks.
//!
//! Reading claims from a second parser's idea of the document is how SAML verifiers get
//! bypassed (two parsers that disagree on a namespace written with a character reference, and
//! the signature is checked on one element while the claims come from another). So there is
//! one XML truth: this tree. The digests are computed over its canonical form and the claims
//! are read from the same nodes, so whatever the claims say is exactly what was signed.
//!
//! Built from the byte range [`super::scan`] found, with the namespace declarations in scope
//! there (the envelope's and the header's), by quick-xml with our own namespace resolution:
//! each element keeps its prefix and the declarations written on it, which canonicalisation
//! needs. Comments are dropped, so a value split by a comment reads whole, exactly as exclusive
//! canonicalisation without comments (what the signature covers) sees it. Processing
//! instructions, which canonicalisation would keep, carry nothing a SAML header needs and are
//! refused.

use quick_xml::events::Event;
use quick_xml::events::attributes::Attribute;
use quick_xml::{Reader, XmlVersion};

use super::SamlError;
use super::ns;

/// Most elements in the `wsse:Security` tree.
pub(super) const MAX_ELEMENTS: usize = 4096;
/// Deepest nesting below the tree's root.
const MAX_DEPTH: usize = 32;

/// A namespace binding: (prefix, namespace name); the prefix is empty for the default
/// namespace, and the name is empty for `xmlns=""`.
pub(super) type Binding = (String, String);

/// An element of the tree.
#[derive(Debug, Clone, Default)]
pub(super) struct Element {
    /// Namespace name (empty when none).
    pub ns: String,
    /// The prefix as written (empty when none).
    pub prefix: String,
    /// Local name.
    pub name: String,
    /// The namespace declarations written on this element, in document order.
    pub ns_decls: Vec<Binding>,
    /// Attributes other than namespace declarations, in document order, values normalised.
    pub attrs: Vec<Attr>,
    pub children: Vec<Node>,
}

/// One attribute.
#[derive(Debug, Clone)]
pub(super) struct Attr {
    /// Namespace name (empty when unqualified).
    pub ns: String,
    pub prefix: String,
    pub local: String,
    pub value: String,
}

#[derive(Debug, Clone)]
pub(super) enum Node {
    Element(Element),
    /// Character data (references resolved, line ends normalised, adjacent runs joined).
    Text(String),
}

// === impl Element ===

impl Element {
    /// Parses `bytes`, which hold exactly one element, with `in_scope` the declarations in
    /// scope where it sits (outermost first); at most `max_elements` elements.
    pub fn parse(
        bytes: &[u8],
        in_scope: &[Binding],
        max_elements: usize,
    ) -> Result<Self, SamlError> {
        Builder {
            scope: in_scope.to_vec(),
            elements: 0,
            max_elements,
        }
        .run(bytes)
    }

    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }

    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|c| match c {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    pub fn children_named<'a>(
        &'a self,
        ns: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.elements().filter(move |e| e.is(ns, name))
    }

    pub fn child(&self, ns: &str, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.is(ns, name))
    }

    /// An unqualified attribute.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attr_ns("", name)
    }

    pub fn attr_ns(&self, ns: &str, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.ns == ns && a.local == name)
            .map(|a| a.value.as_str())
    }

    /// All text directly inside this element, concatenated (comments already removed).
    pub fn text(&self) -> String {
        let mut s = String::new();
        for c in &self.children {
            if let Node::Text(t) = c {
                s.push_str(t);
            }
        }
        s
    }

    /// Every descendant element (depth first), this one excluded.
    pub fn descendants(&self) -> Vec<&Element> {
        let mut out = Vec::new();
        let mut stack: Vec<&Element> = self.elements().collect();
        stack.reverse();
        while let Some(e) = stack.pop() {
            out.push(e);
            let mut kids: Vec<&Element> = e.elements().collect();
            kids.reverse();
            stack.extend(kids);
        }
        out
    }
}

/// Builds one tree; `scope` is the stack of bindings in scope (innermost last).
struct Builder {
    scope: Vec<Binding>,
    elements: usize,
    max_elements: usize,
}

impl Builder {
    fn run(mut self, bytes: &[u8]) -> Result<Element, SamlError> {
        let bad = |_| SamlError::Malformed("not well-formed XML");
        let mut reader = Reader::from_reader(bytes);
        {
            let cfg = reader.config_mut();
            cfg.expand_empty_elements = true;
            cfg.check_end_names = true;
            cfg.trim_text(false);
        }
        // Open elements, each with the scope length to go back to when it closes.
        let mut open: Vec<(Element, usize)> = Vec::new();
        loop {
            match reader.read_event().map_err(bad)? {
                Event::Start(start) => {
                    if open.len() > MAX_DEPTH {
                        return Err(SamlError::Malformed("signed XML nested too deep"));
                    }
                    self.elements += 1;
                    if self.elements > self.max_elements {
                        return Err(SamlError::Malformed("signed XML too large"));
                    }
                    let mark = self.scope.len();
                    let mut ns_decls = Vec::new();
                    let mut raw_attrs = Vec::new();
                    for attr in start.attributes() {
                        let attr = attr.map_err(|_| SamlError::Malformed("bad attribute"))?;
                        match declaration(&attr)? {
                            Some(b) => ns_decls.push(b),
                            None => raw_attrs.push(attr),
                        }
                    }
                    self.scope.extend(ns_decls.iter().cloned());
                    let (prefix, name) = split(start.name().as_ref())?;
                    let ns = self.resolve(&prefix, true)?;
                    let mut attrs = Vec::with_capacity(raw_attrs.len());
                    for attr in raw_attrs {
                        let (aprefix, local) = split(attr.key.as_ref())?;
                        let ans = if aprefix.is_empty() {
                            String::new()
                        } else {
                            self.resolve(&aprefix, false)?
                        };
                        let value = attr
                            .normalized_value(XmlVersion::Implicit1_0)
                            .map_err(|_| SamlError::Malformed("bad attribute value"))?
                            .into_owned();
                        attrs.push(Attr {
                            ns: ans,
                            prefix: aprefix,
                            local,
                            value,
                        });
                    }
                    open.push((
                        Element {
                            ns,
                            prefix,
                            name,
                            ns_decls,
                            attrs,
                            children: Vec::new(),
                        },
                        mark,
                    ));
                }
                Event::End(_) => {
                    let (done, mark) = open
                        .pop()
                        .ok_or(SamlError::Malformed("not well-formed XML"))?;
                    self.scope.truncate(mark);
                    match open.last_mut() {
                        Some((parent, _)) => parent.children.push(Node::Element(done)),
                        None => return Ok(done),
                    }
                }
                Event::Text(t) => push_text(&mut open, &t.xml10_content())?,
                Event::CData(c) => push_text(&mut open, &c.xml10_content())?,
                Event::GeneralRef(r) => {
                    let resolved = match r.resolve_char_ref().map_err(bad)? {
                        Some(ch) => ch,
                        None => predefined(&r.xml10_content())
                            .ok_or(SamlError::Malformed("undefined entity"))?,
                    };
                    push_text(&mut open, resolved.encode_utf8(&mut [0; 4]))?;
                }
                Event::Comment(_) => {}
                Event::PI(_) => {
                    return Err(SamlError::Malformed(
                        "processing instruction in the WS-Security header",
                    ));
                }
                Event::Decl(_) | Event::DocType(_) | Event::Empty(_) | Event::Eof => {
                    return Err(SamlError::Malformed("not well-formed XML"));
                }
            }
        }
    }

    /// The namespace bound to `prefix` here. `xml` is always bound; an unprefixed element
    /// takes the default namespace (none when undeclared), an unprefixed attribute none.
    fn resolve(&self, prefix: &str, element: bool) -> Result<String, SamlError> {
        if prefix == "xml" {
            return Ok(ns::XML.to_string());
        }
        if prefix.is_empty() && !element {
            return Ok(String::new());
        }
        match self.scope.iter().rev().find(|(p, _)| p == prefix) {
            Some((_, uri)) => Ok(uri.clone()),
            None if prefix.is_empty() => Ok(String::new()),
            None => Err(SamlError::Malformed("unbound prefix")),
        }
    }
}

/// `xmlns` / `xmlns:p` as a binding; `None` for any other attribute.
fn declaration(attr: &Attribute<'_>) -> Result<Option<Binding>, SamlError> {
    let key: &str = attr.key.as_ref();
    let prefix = if key == "xmlns" {
        ""
    } else if let Some(p) = key.strip_prefix("xmlns:") {
        p
    } else {
        return Ok(None);
    };
    // The pre-pass refused namespace names with references or whitespace: what is written is
    // the name.
    let uri: &str = attr.value.as_ref();
    if prefix == "xmlns" || (prefix == "xml") != (uri == ns::XML) || uri == XMLNS_NS {
        return Err(SamlError::Malformed("reserved namespace prefix or name"));
    }
    if !prefix.is_empty() && uri.is_empty() {
        return Err(SamlError::Malformed("a prefix bound to no namespace"));
    }
    if !uri.is_empty() && !is_absolute(uri) {
        return Err(SamlError::Malformed(
            "relative namespace name in signed XML",
        ));
    }
    if prefix.contains(':') {
        return Err(SamlError::Malformed("bad namespace prefix"));
    }
    Ok(Some((prefix.to_string(), uri.to_string())))
}

const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

/// A namespace name with a URI scheme. Canonical XML must fail on relative namespace names
/// (libxml2's canonicaliser does, for every namespace in scope of what it canonicalises), so
/// a signature over one never verifies.
pub(super) fn is_absolute(uri: &str) -> bool {
    let Some((scheme, _)) = uri.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// `prefix:local` → (prefix, local); no prefix → ("", local).
fn split(s: &str) -> Result<(String, String), SamlError> {
    let (prefix, local) = match s.split_once(':') {
        Some((p, l)) => (p, l),
        None => ("", s),
    };
    if local.is_empty() || local.contains(':') || (s.contains(':') && prefix.is_empty()) {
        return Err(SamlError::Malformed("bad XML name"));
    }
    Ok((prefix.to_string(), local.to_string()))
}

fn push_text(open: &mut [(Element, usize)], text: &str) -> Result<(), SamlError> {
    let Some((parent, _)) = open.last_mut() else {
        // Text outside the element: only whitespace could be there, and the range holds none.
        return Err(SamlError::Malformed("not well-formed XML"));
    };
    match parent.children.last_mut() {
        Some(Node::Text(prev)) => prev.push_str(text),
        _ => parent.children.push(Node::Text(text.to_string())),
    }
    Ok(())
}

fn predefined(name: &str) -> Option<char> {
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        _ => return None,
    })
}
