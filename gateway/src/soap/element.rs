//! A small owned XML element tree, built by a namespace-aware quick-xml pass.
//!
//! `envelope` parses the request bytes into an [`Element`] tree; the ITI parsers navigate it by
//! (namespace, local name), so any prefix and any line layout work. The parser refuses DTDs and
//! every entity except the five predefined ones and character references (no billion laughs,
//! no external entities) and names that are not XML `QName`s (quick-xml alone would read
//! `<a<b:c>`), and bounds depth, element count and attribute count.
//!
//! The tree costs a small multiple of the input, whatever the input: namespace names are
//! interned (one `Arc<str>` per distinct URI, each at most [`MAX_NAMESPACE_BYTES`], at most
//! [`MAX_NAMESPACES`] of them), so a megabyte URI used by thousands of elements is stored once;
//! each `xop:Include` is resolved once, and all resolved parts together may not exceed twice
//! the size of the message they came in; and the whole tree (elements, attributes, names,
//! values, text) may cost at most [`tree_bound`] of the message, so 600 KB of `<w/>` (99,000
//! elements, ~32 MB of tree) is refused. Over budget is an error, never an allocation.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;

use quick_xml::NsReader;
use quick_xml::XmlVersion;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

/// Limits applied while building the tree.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Deepest element nesting accepted.
    pub max_depth: usize,
    /// Most elements accepted in one document.
    pub max_elements: usize,
    /// Most attributes on one element.
    pub max_attributes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 64,
            max_elements: 100_000,
            max_attributes: 64,
        }
    }
}

/// Why bytes are not an acceptable XML document. Messages are safe to log (no content).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("the document is not well-formed XML")]
    Malformed,
    #[error("the document is not UTF-8")]
    Encoding,
    #[error("DTDs are not accepted")]
    Doctype,
    #[error("entity references other than the predefined ones are not accepted")]
    Entity,
    #[error("an element or attribute prefix is not bound to a namespace")]
    UnboundPrefix,
    #[error("the document nests elements deeper than allowed")]
    TooDeep,
    #[error("the document has more elements or attributes than allowed")]
    TooLarge,
    #[error("the document has no root element")]
    Empty,
    #[error("an xop:Include is repeated, or the included parts exceed the message size")]
    IncludeBudget,
}

/// Longest namespace name accepted (SOAP and IHE ones are under 100 bytes).
pub const MAX_NAMESPACE_BYTES: usize = 2048;
/// Most distinct namespace names in one document.
pub const MAX_NAMESPACES: usize = 256;
/// The tree may cost this many times the message it came in (an Epic ITI-55 costs about 6×)…
pub const TREE_FACTOR: usize = 16;
/// …plus this much, so that a tiny message is never refused for its size.
pub const TREE_SLACK_BYTES: usize = 64 * 1024;
/// What an element costs beyond its name: the struct (128 bytes), and as much again for the
/// spare capacity of its parent's `children`.
const ELEMENT_BYTES: usize = 256;
/// What an attribute costs beyond its name and value (the struct, twice, as above).
const ATTRIBUTE_BYTES: usize = 128;

/// The most a tree parsed from a `message_bytes`-byte message may cost (see [`TREE_FACTOR`]):
/// what `app` reserves from the request memory budget before parsing.
pub fn tree_bound(message_bytes: usize) -> usize {
    message_bytes
        .saturating_mul(TREE_FACTOR)
        .saturating_add(TREE_SLACK_BYTES)
}

/// One attribute: namespace (empty when none), local name, normalised value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub ns: Arc<str>,
    pub local: String,
    pub value: String,
}

/// One element with its resolved name, attributes, children and direct text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    pub ns: Arc<str>,
    pub local: String,
    pub attributes: Vec<Attribute>,
    pub children: Vec<Element>,
    /// Concatenated character data directly inside this element (not in children).
    pub text: String,
    /// Byte range of the element in the parsed input (start tag to end tag).
    pub span: Range<usize>,
}

// === impl Element ===

impl Element {
    /// True when the element has this namespace and local name.
    pub fn is(&self, ns: &str, local: &str) -> bool {
        &*self.ns == ns && self.local == local
    }

    /// The first child with this name.
    pub fn child(&self, ns: &str, local: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.is(ns, local))
    }

    /// Every child with this name.
    pub fn children_named<'a>(
        &'a self,
        ns: &'a str,
        local: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.is(ns, local))
    }

    /// Follows a path of child names in one namespace.
    pub fn path(&self, ns: &str, locals: &[&str]) -> Option<&Element> {
        let mut cur = self;
        for l in locals {
            cur = cur.child(ns, l)?;
        }
        Some(cur)
    }

    /// Value of an attribute without namespace.
    pub fn attr(&self, local: &str) -> Option<&str> {
        self.attr_ns("", local)
    }

    /// Value of a namespaced attribute.
    pub fn attr_ns(&self, ns: &str, local: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| &*a.ns == ns && a.local == local)
            .map(|a| a.value.as_str())
    }

    /// Trimmed direct text.
    pub fn text_trimmed(&self) -> &str {
        self.text.trim()
    }

    /// Every descendant (depth first) with this name.
    pub fn descendants<'a>(&'a self, ns: &'a str, local: &'a str, out: &mut Vec<&'a Element>) {
        for c in &self.children {
            if c.is(ns, local) {
                out.push(c);
            }
            c.descendants(ns, local, out);
        }
    }
}

/// What one parse may still spend: namespace names (interned) and included MTOM parts.
struct Budget<'a> {
    names: HashMap<String, Arc<str>>,
    resolve_include: &'a dyn Fn(&str) -> Option<String>,
    /// hrefs already resolved (each may be used once).
    included: HashSet<String>,
    /// Bytes of included text still allowed.
    include_left: usize,
    /// What the tree may still cost.
    tree_left: usize,
}

impl Budget<'_> {
    /// Charges `bytes` to the tree.
    fn spend(&mut self, bytes: usize) -> Result<(), XmlError> {
        self.tree_left = self
            .tree_left
            .checked_sub(bytes)
            .ok_or(XmlError::TooLarge)?;
        Ok(())
    }

    fn intern(&mut self, ns: &str) -> Result<Arc<str>, XmlError> {
        if let Some(n) = self.names.get(ns) {
            return Ok(n.clone());
        }
        if ns.len() > MAX_NAMESPACE_BYTES || self.names.len() >= MAX_NAMESPACES {
            return Err(XmlError::TooLarge);
        }
        let n: Arc<str> = Arc::from(ns);
        self.names.insert(ns.to_string(), n.clone());
        Ok(n)
    }

    /// The text an `xop:Include` stands for, within budget.
    fn include(&mut self, href: &str) -> Result<Option<String>, XmlError> {
        let Some(text) = (self.resolve_include)(href) else {
            return Ok(None);
        };
        if !self.included.insert(href.to_string()) || text.len() > self.include_left {
            return Err(XmlError::IncludeBudget);
        }
        self.include_left -= text.len();
        Ok(Some(text))
    }
}

/// Parses a whole document into its root element.
///
/// `resolve_include` is offered every `xop:Include/@href` (MTOM): when it returns text, the
/// Include element is replaced by that text in its parent (the base64 of the referenced part).
/// Each href may be used once, and all included text together may not exceed twice
/// `message_bytes` (the whole request the document came in).
pub fn parse(
    input: &[u8],
    limits: Limits,
    resolve_include: &dyn Fn(&str) -> Option<String>,
) -> Result<Element, XmlError> {
    parse_within(input, input.len(), limits, resolve_include)
}

/// [`parse`] for a document that came in a larger message (an MTOM root part): the include
/// budget is twice `message_bytes`.
pub fn parse_within(
    input: &[u8],
    message_bytes: usize,
    limits: Limits,
    resolve_include: &dyn Fn(&str) -> Option<String>,
) -> Result<Element, XmlError> {
    if std::str::from_utf8(input).is_err() {
        return Err(XmlError::Encoding);
    }
    let mut reader = NsReader::from_reader(input);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut elements = 0usize;
    let mut budget = Budget {
        names: HashMap::new(),
        resolve_include,
        included: HashSet::new(),
        include_left: message_bytes.saturating_mul(2),
        tree_left: tree_bound(message_bytes),
    };
    loop {
        let before = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|_| XmlError::Malformed)?;
        let ns = match ns {
            ResolveResult::Bound(n) => Some(n.0),
            ResolveResult::Unbound => None,
            ResolveResult::Unknown(_) => return Err(XmlError::UnboundPrefix),
        };
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                elements += 1;
                if elements > limits.max_elements {
                    return Err(XmlError::TooLarge);
                }
                if stack.len() >= limits.max_depth {
                    return Err(XmlError::TooDeep);
                }
                if root.is_some() {
                    return Err(XmlError::Malformed);
                }
                // Namespaces in XML 1.0 §3: element names must not have the prefix `xmlns`
                // (quick-xml resolves it; found by the `envelope` fuzz target).
                if ns == Some(XMLNS_NS) || !qname(e.name().as_ref()) {
                    return Err(XmlError::Malformed);
                }
                budget.spend(ELEMENT_BYTES + e.local_name().as_ref().len())?;
                let mut el = Element {
                    ns: match ns {
                        Some(n) => budget.intern(n)?,
                        None => Arc::from(""),
                    },
                    local: e.local_name().as_ref().to_string(),
                    span: before..before,
                    ..Default::default()
                };
                for a in e.attributes() {
                    let a = a.map_err(|_| XmlError::Malformed)?;
                    let key = a.key;
                    let raw = key.as_ref();
                    if raw == "xmlns" || raw.starts_with("xmlns:") {
                        continue;
                    }
                    if !qname(raw) {
                        return Err(XmlError::Malformed);
                    }
                    if el.attributes.len() >= limits.max_attributes {
                        return Err(XmlError::TooLarge);
                    }
                    let (ans, local) = reader.resolver().resolve_attribute(key);
                    let ans = match ans {
                        ResolveResult::Bound(n) => budget.intern(n.0)?,
                        ResolveResult::Unbound => Arc::from(""),
                        ResolveResult::Unknown(_) => return Err(XmlError::UnboundPrefix),
                    };
                    let value = a
                        .normalized_value(XmlVersion::Implicit1_0)
                        .map_err(|_| XmlError::Entity)?;
                    xml_chars(&value)?;
                    budget.spend(ATTRIBUTE_BYTES + local.as_ref().len() + value.len())?;
                    el.attributes.push(Attribute {
                        ns: ans,
                        local: local.as_ref().to_string(),
                        value: value.into_owned(),
                    });
                }
                if matches!(event, Event::Empty(_)) {
                    el.span = before..usize::try_from(reader.buffer_position()).unwrap_or(before);
                    close(el, &mut stack, &mut root, &mut budget)?;
                } else {
                    stack.push(el);
                }
            }
            Event::End(_) => {
                let mut el = stack.pop().ok_or(XmlError::Malformed)?;
                el.span.end = usize::try_from(reader.buffer_position()).unwrap_or(el.span.start);
                close(el, &mut stack, &mut root, &mut budget)?;
            }
            Event::Text(t) => {
                let text = t.xml10_content();
                // `]]>` may not appear in character data (XML 1.0, production [14]).
                if text.contains("]]>") {
                    return Err(XmlError::Malformed);
                }
                xml_chars(&text)?;
                push_text(&mut stack, &text, &mut budget)?;
            }
            Event::CData(c) => {
                xml_chars(c.as_ref())?;
                push_text(&mut stack, c.as_ref(), &mut budget)?;
            }
            Event::GeneralRef(r) => {
                let s = match r.resolve_char_ref().map_err(|_| XmlError::Malformed)? {
                    Some(ch) => ch.to_string(),
                    None => match r.as_ref() {
                        "amp" => "&".into(),
                        "lt" => "<".into(),
                        "gt" => ">".into(),
                        "quot" => "\"".into(),
                        "apos" => "'".into(),
                        _ => return Err(XmlError::Entity),
                    },
                };
                xml_chars(&s)?;
                push_text(&mut stack, &s, &mut budget)?;
            }
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::Comment(c) => xml_chars(c.as_ref())?,
            Event::PI(p) => xml_chars(p.as_ref())?,
            Event::Decl(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Malformed);
    }
    root.ok_or(XmlError::Empty)
}

/// Every character is an XML 1.0 `Char` (production [2]), written or as a reference: no C0
/// control other than tab, LF and CR, no U+FFFE or U+FFFF (Rust strings hold no surrogates).
/// Every conforming parser refuses the others, so a document holding one is not XML, and
/// nothing downstream (PDS, GP Connect, the audit trail) should see it. Before the SAML check
/// stopped using libxml2, its parse of the whole envelope was what refused them.
fn xml_chars(s: &str) -> Result<(), XmlError> {
    let bad = |c: char| {
        (c < '\u{20}' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}')
    };
    if s.chars().any(bad) {
        Err(XmlError::Malformed)
    } else {
        Ok(())
    }
}

/// A `QName` of Namespaces in XML 1.0: `NCName` or `NCName:NCName`. quick-xml reads a name up
/// to whitespace, `/` or `>`, so it would accept `<a<b:c>` or a local name holding a colon,
/// which no other parser reads the same way (and which the serialiser could not write back;
/// found by the `envelope` fuzz target).
fn qname(name: &str) -> bool {
    match name.split_once(':') {
        Some((prefix, local)) => ncname(prefix) && ncname(local),
        None => ncname(name),
    }
}

/// XML 1.0 `Name` without colons (`NameStartChar NameChar*`).
fn ncname(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(name_start_char) && chars.all(name_char)
}

fn name_start_char(c: char) -> bool {
    matches!(c,
        'A'..='Z' | '_' | 'a'..='z' | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}'
        | '\u{F8}'..='\u{2FF}' | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}'
        | '\u{200C}'..='\u{200D}' | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}'
        | '\u{3001}'..='\u{D7FF}' | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}'
        | '\u{10000}'..='\u{EFFFF}')
}

fn name_char(c: char) -> bool {
    name_start_char(c)
        || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

/// Text costs its bytes twice: a `String` grown by pushes may have as much spare capacity.
fn push_text(stack: &mut [Element], s: &str, budget: &mut Budget<'_>) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(top) => {
            budget.spend(2 * s.len())?;
            top.text.push_str(s);
            Ok(())
        }
        // Only whitespace may sit outside the root element.
        None if s.trim().is_empty() => Ok(()),
        None => Err(XmlError::Malformed),
    }
}

const XOP_NS: &str = "http://www.w3.org/2004/08/xop/include";
const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

fn close(
    el: Element,
    stack: &mut [Element],
    root: &mut Option<Element>,
    budget: &mut Budget<'_>,
) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(parent) => {
            if el.is(XOP_NS, "Include")
                && let Some(href) = el.attr("href")
                && let Some(text) = budget.include(href)?
            {
                budget.spend(2 * text.len())?;
                parent.text.push_str(&text);
                return Ok(());
            }
            parent.children.push(el);
        }
        None => *root = Some(el),
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
