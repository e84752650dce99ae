//! One namespace-aware pass over the whole SOAP envelope (quick-xml).
//!
//! It refuses what must never reach the XML-DSig library (DTDs, unknown entities, duplicate
//! IDs, excessive depth) and copies the `wsse:Security` header into a small owned tree that
//! [`super::assertion`] reads. Comments are dropped, so a text value split by a comment is read
//! whole, exactly as exclusive canonicalisation (what the signature covers) sees it.

use std::collections::HashSet;

use quick_xml::events::Event;
use quick_xml::events::attributes::Attribute;
use quick_xml::name::ResolveResult;
use quick_xml::{NsReader, XmlVersion};

use super::SamlError;
use super::ns;

/// Deepest element nesting accepted anywhere in the envelope.
const MAX_DEPTH: usize = 96;
/// Most elements copied from the `wsse:Security` header.
const MAX_SECURITY_ELEMENTS: usize = 4096;
/// Largest envelope handed to the verifier (the HTTP layer normally limits far below this).
pub(super) const MAX_ENVELOPE_BYTES: usize = 32 * 1024 * 1024;

/// An element of the copied `wsse:Security` subtree.
#[derive(Debug, Clone, Default)]
pub(super) struct Element {
    pub ns: String,
    pub name: String,
    /// (namespace, local name, normalised value); namespace is empty when unqualified.
    pub attrs: Vec<(String, String, String)>,
    pub children: Vec<Node>,
}

#[derive(Debug, Clone)]
pub(super) enum Node {
    Element(Element),
    Text(String),
}

/// What the pass found.
#[derive(Debug, Default)]
pub(super) struct Scan {
    /// The `wsse:Security` header block, when present.
    pub security: Option<Element>,
    /// How many `wsu:Id` attributes the envelope has.
    pub wsu_ids: usize,
    /// `wsu:Id` of `soap:Body`, when it has one.
    pub body_wsu_id: Option<String>,
}

// === impl Element ===

impl Element {
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
            .find(|(n, l, _)| n == ns && l == name)
            .map(|(_, _, v)| v.as_str())
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

/// Scans `envelope`; any XML problem is `Malformed`.
pub(super) fn scan(envelope: &[u8]) -> Result<Scan, SamlError> {
    if envelope.len() > MAX_ENVELOPE_BYTES {
        return Err(SamlError::Malformed("envelope too large"));
    }
    let mut reader = NsReader::from_reader(envelope);
    {
        let cfg = reader.config_mut();
        cfg.expand_empty_elements = true;
        cfg.check_end_names = true;
        cfg.trim_text(false);
    }
    let mut out = Scan::default();
    // Every ID-like attribute value seen so far (`ID`, `Id`, `AssertionID` in any namespace,
    // `xml:id`): a value may appear once.
    let mut ids: HashSet<String> = HashSet::new();
    // Names of open elements (namespace, local) and, while inside wsse:Security, the partial tree.
    let mut path: Vec<(String, String)> = Vec::new();
    let mut open: Vec<Element> = Vec::new();
    let mut security_depth: Option<usize> = None;
    let mut copied = 0usize;
    let mut seen_root = false;

    loop {
        let (resolved, event) = reader
            .read_resolved_event()
            .map_err(|_| SamlError::Malformed("not well-formed XML"))?;
        let element_ns = match &resolved {
            ResolveResult::Bound(n) => n.as_ref().to_owned(),
            ResolveResult::Unbound => String::new(),
            ResolveResult::Unknown(_) => return Err(SamlError::Malformed("unbound prefix")),
        };
        match event {
            Event::DocType(_) => return Err(SamlError::Malformed("DTD not allowed")),
            Event::Start(start) => {
                if path.is_empty() {
                    if seen_root {
                        return Err(SamlError::Malformed("more than one root element"));
                    }
                    seen_root = true;
                }
                if path.len() >= MAX_DEPTH {
                    return Err(SamlError::Malformed("nesting too deep"));
                }
                let local = start.local_name().as_ref().to_owned();
                let mut attrs = Vec::new();
                for attr in start.attributes() {
                    let attr = attr.map_err(|_| SamlError::Malformed("bad attribute"))?;
                    if is_xmlns(&attr) {
                        continue;
                    }
                    let (ans, alocal) = reader.resolver().resolve_attribute(attr.key);
                    let ans = match ans {
                        ResolveResult::Bound(n) => n.as_ref().to_owned(),
                        ResolveResult::Unbound => String::new(),
                        ResolveResult::Unknown(_) => {
                            return Err(SamlError::Malformed("unbound attribute prefix"));
                        }
                    };
                    let alocal = alocal.as_ref().to_owned();
                    let value = attr
                        .normalized_value(XmlVersion::Implicit1_0)
                        .map_err(|_| SamlError::Malformed("bad attribute value"))?
                        .into_owned();
                    if is_id_attr(&ans, &alocal) && !ids.insert(value.clone()) {
                        return Err(SamlError::Malformed("duplicate ID"));
                    }
                    if ans == ns::WSU && alocal == "Id" {
                        out.wsu_ids += 1;
                    }
                    attrs.push((ans, alocal, value));
                }
                let depth = path.len();
                // soap:Body's wsu:Id (a header signature may cover the Body).
                if depth == 1 && element_ns == ns::SOAP12 && local == "Body" {
                    out.body_wsu_id = attrs
                        .iter()
                        .find(|(n, l, _)| n == ns::WSU && l == "Id")
                        .map(|(_, _, v)| v.clone());
                }
                if depth == 0 && !(element_ns == ns::SOAP12 && local == "Envelope") {
                    return Err(SamlError::Malformed("not a SOAP 1.2 envelope"));
                }
                let starts_security = security_depth.is_none()
                    && depth == 2
                    && path[1].0 == ns::SOAP12
                    && path[1].1 == "Header"
                    && element_ns == ns::WSSE
                    && local == "Security";
                if starts_security {
                    if out.security.is_some() {
                        return Err(SamlError::Malformed("more than one wsse:Security header"));
                    }
                    security_depth = Some(depth);
                }
                if security_depth.is_some() {
                    copied += 1;
                    if copied > MAX_SECURITY_ELEMENTS {
                        return Err(SamlError::Malformed("wsse:Security header too large"));
                    }
                    open.push(Element {
                        ns: element_ns.clone(),
                        name: local.clone(),
                        attrs,
                        children: Vec::new(),
                    });
                }
                path.push((element_ns, local));
            }
            Event::End(_) => {
                path.pop();
                if let Some(sd) = security_depth {
                    let done = open.pop().ok_or(SamlError::Malformed("unbalanced"))?;
                    if path.len() == sd {
                        out.security = Some(done);
                        security_depth = None;
                    } else if let Some(parent) = open.last_mut() {
                        parent.children.push(Node::Element(done));
                    }
                }
            }
            Event::Text(t) => {
                if let Some(parent) = open.last_mut() {
                    push_text(parent, &t.xml10_content());
                }
            }
            Event::CData(c) => {
                if let Some(parent) = open.last_mut() {
                    push_text(parent, &c.into_inner());
                }
            }
            Event::GeneralRef(r) => {
                let ch = if r.is_char_ref() {
                    r.resolve_char_ref()
                        .map_err(|_| SamlError::Malformed("bad character reference"))?
                        .ok_or(SamlError::Malformed("bad character reference"))?
                        .to_string()
                } else {
                    let name = r.xml10_content();
                    predefined_entity(&name)
                        .ok_or(SamlError::Malformed("undefined entity"))?
                        .to_string()
                };
                if let Some(parent) = open.last_mut() {
                    push_text(parent, &ch);
                }
            }
            Event::Eof => break,
            Event::Decl(decl) => {
                // libxml2 would honour another declared encoding while we read UTF-8: refuse.
                if let Some(enc) = decl.encoding() {
                    let enc = enc.map_err(|_| SamlError::Malformed("bad XML declaration"))?;
                    if !enc.eq_ignore_ascii_case("utf-8") {
                        return Err(SamlError::Malformed("encoding other than UTF-8"));
                    }
                }
            }
            // Comments and processing instructions carry nothing we read.
            Event::Comment(_) | Event::PI(_) | Event::Empty(_) => {}
        }
    }
    if !seen_root || !path.is_empty() {
        return Err(SamlError::Malformed("not well-formed XML"));
    }
    Ok(out)
}

fn push_text(parent: &mut Element, s: &str) {
    if let Some(Node::Text(prev)) = parent.children.last_mut() {
        prev.push_str(s);
    } else {
        parent.children.push(Node::Text(s.to_string()));
    }
}

fn is_xmlns(attr: &Attribute<'_>) -> bool {
    let key = attr.key.as_ref();
    key == "xmlns" || key.starts_with("xmlns:")
}

/// Attribute names that XML-DSig references can point at, in any namespace (libxml2's
/// `xmlHasProp`, used to register IDs, ignores namespaces too).
fn is_id_attr(ns: &str, local: &str) -> bool {
    matches!(local, "ID" | "Id" | "AssertionID") || (ns == ns::XML && local == "id")
}

fn predefined_entity(name: &str) -> Option<&'static str> {
    Some(match name {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        _ => return None,
    })
}
