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
//!
//! Names, namespace names, attribute values and text borrow from the input wherever quick-xml
//! hands out a slice of it (no reference to resolve, nothing to normalise), so building the
//! tree of an Epic header allocates little beyond the node vectors; a value that had to be
//! rewritten is owned. Either way a node holds exactly what it did when every string was copied.

use std::borrow::Cow;

use quick_xml::events::Event;
use quick_xml::events::attributes::Attribute;
use quick_xml::{Reader, XmlVersion};

use super::SamlError;
use super::ns;

/// Most elements in the `wsse:Security` tree.
pub(super) const MAX_ELEMENTS: usize = 4096;
/// Deepest nesting below the tree's root.
const MAX_DEPTH: usize = 32;

/// A string of the tree: a slice of the input, or owned when it had to be rewritten.
pub(super) type Str<'a> = Cow<'a, str>;

/// A namespace binding: (prefix, namespace name); the prefix is empty for the default
/// namespace, and the name is empty for `xmlns=""`.
pub(super) type Binding<'a> = (Str<'a>, Str<'a>);

/// An element of the tree.
#[derive(Debug, Clone, Default)]
pub(super) struct Element<'a> {
    /// Namespace name (empty when none).
    pub ns: Str<'a>,
    /// The prefix as written (empty when none).
    pub prefix: Str<'a>,
    /// Local name.
    pub name: Str<'a>,
    /// The namespace declarations written on this element, in document order.
    pub ns_decls: Vec<Binding<'a>>,
    /// Attributes other than namespace declarations, in document order, values normalised.
    pub attrs: Vec<Attr<'a>>,
    pub children: Vec<Node<'a>>,
}

/// One attribute.
#[derive(Debug, Clone)]
pub(super) struct Attr<'a> {
    /// Namespace name (empty when unqualified).
    pub ns: Str<'a>,
    pub prefix: Str<'a>,
    pub local: Str<'a>,
    pub value: Str<'a>,
}

#[derive(Debug, Clone)]
pub(super) enum Node<'a> {
    Element(Element<'a>),
    /// Character data (references resolved, line ends normalised, adjacent runs joined).
    Text(Str<'a>),
}

// === impl Element ===

impl<'a> Element<'a> {
    /// Parses `bytes`, which hold exactly one element, with `in_scope` the declarations in
    /// scope where it sits (outermost first); at most `max_elements` elements.
    pub fn parse(
        bytes: &'a [u8],
        in_scope: &[Binding<'a>],
        max_elements: usize,
    ) -> Result<Self, SamlError> {
        // quick-xml checks every event it reads is UTF-8 and the range is nothing but events,
        // so checking it once here refuses exactly what it would (and lets names borrow).
        let input =
            std::str::from_utf8(bytes).map_err(|_| SamlError::Malformed("not well-formed XML"))?;
        Builder {
            input,
            scope: in_scope.to_vec(),
            elements: 0,
            max_elements,
        }
        .run()
    }

    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }

    pub fn elements(&self) -> impl Iterator<Item = &Element<'a>> {
        self.children.iter().filter_map(|c| match c {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    pub fn children_named<'e>(
        &'e self,
        ns: &'e str,
        name: &'e str,
    ) -> impl Iterator<Item = &'e Element<'a>> + 'e {
        self.elements().filter(move |e| e.is(ns, name))
    }

    pub fn child(&self, ns: &str, name: &str) -> Option<&Element<'a>> {
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
            .map(|a| a.value.as_ref())
    }

    /// All text directly inside this element, concatenated (comments already removed).
    pub fn text(&self) -> Cow<'_, str> {
        let mut texts = self.children.iter().filter_map(|c| match c {
            Node::Text(t) => Some(t.as_ref()),
            Node::Element(_) => None,
        });
        let Some(first) = texts.next() else {
            return Cow::Borrowed("");
        };
        // Adjacent runs are joined as the tree is built, so one run is the common case.
        match texts.next() {
            None => Cow::Borrowed(first),
            Some(second) => {
                let mut s = String::from(first);
                s.push_str(second);
                texts.for_each(|t| s.push_str(t));
                Cow::Owned(s)
            }
        }
    }

    /// Every descendant element (depth first), this one excluded.
    pub fn descendants(&self) -> Vec<&Element<'a>> {
        let mut out = Vec::new();
        let mut stack: Vec<&Element<'a>> = self.elements().collect();
        stack.reverse();
        while let Some(e) = stack.pop() {
            out.push(e);
            let mut kids: Vec<&Element<'a>> = e.elements().collect();
            kids.reverse();
            stack.extend(kids);
        }
        out
    }
}

/// Builds one tree from `input`; `scope` is the stack of bindings in scope (innermost last).
struct Builder<'a> {
    input: &'a str,
    scope: Vec<Binding<'a>>,
    elements: usize,
    max_elements: usize,
}

impl<'a> Builder<'a> {
    fn run(mut self) -> Result<Element<'a>, SamlError> {
        let bad = |_| SamlError::Malformed("not well-formed XML");
        let input = self.input;
        let mut reader = Reader::from_str(input);
        {
            let cfg = reader.config_mut();
            cfg.expand_empty_elements = true;
            cfg.check_end_names = true;
            cfg.trim_text(false);
        }
        // Open elements, each with the scope length to go back to when it closes.
        let mut open: Vec<(Element<'a>, usize)> = Vec::new();
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
                        match declaration(input, &attr)? {
                            Some(b) => ns_decls.push(b),
                            None => raw_attrs.push(attr),
                        }
                    }
                    self.scope.extend(ns_decls.iter().cloned());
                    let (prefix, name) = split(input, start.name().as_ref())?;
                    let ns = self.resolve(&prefix, true)?;
                    let mut attrs = Vec::with_capacity(raw_attrs.len());
                    for attr in raw_attrs {
                        let (aprefix, local) = split(input, attr.key.as_ref())?;
                        let ans = if aprefix.is_empty() {
                            Str::Borrowed("")
                        } else {
                            self.resolve(&aprefix, false)?
                        };
                        let value = match attr
                            .normalized_value(XmlVersion::Implicit1_0)
                            .map_err(|_| SamlError::Malformed("bad attribute value"))?
                        {
                            Cow::Borrowed(v) => borrow(input, v),
                            Cow::Owned(v) => Cow::Owned(v),
                        };
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
                Event::Text(t) => push_text(&mut open, t.xml10_content())?,
                Event::CData(c) => push_text(&mut open, c.xml10_content())?,
                Event::GeneralRef(r) => {
                    let resolved = match r.resolve_char_ref().map_err(bad)? {
                        Some(ch) => ch,
                        None => predefined(&r.xml10_content())
                            .ok_or(SamlError::Malformed("undefined entity"))?,
                    };
                    let mut utf8 = [0; 4];
                    let ch: &str = resolved.encode_utf8(&mut utf8);
                    push_text(&mut open, Cow::Owned(ch.to_string()))?;
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
    fn resolve(&self, prefix: &str, element: bool) -> Result<Str<'a>, SamlError> {
        if prefix == "xml" {
            return Ok(Str::Borrowed(ns::XML));
        }
        if prefix.is_empty() && !element {
            return Ok(Str::Borrowed(""));
        }
        match self.scope.iter().rev().find(|(p, _)| p == prefix) {
            Some((_, uri)) => Ok(uri.clone()),
            None if prefix.is_empty() => Ok(Str::Borrowed("")),
            None => Err(SamlError::Malformed("unbound prefix")),
        }
    }
}

/// `xmlns` / `xmlns:p` as a binding; `None` for any other attribute.
fn declaration<'a>(input: &'a str, attr: &Attribute<'_>) -> Result<Option<Binding<'a>>, SamlError> {
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
    Ok(Some((borrow(input, prefix), borrow(input, uri))))
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

/// `part` as a slice of `input` when it is one (what quick-xml hands out for names and for
/// values it did not rewrite), else a copy: the same characters either way.
fn borrow<'a>(input: &'a str, part: &str) -> Str<'a> {
    let offset = (part.as_ptr() as usize).wrapping_sub(input.as_ptr() as usize);
    match offset
        .checked_add(part.len())
        .and_then(|end| input.get(offset..end))
    {
        Some(slice) if slice.as_ptr() == part.as_ptr() => Cow::Borrowed(slice),
        _ => Cow::Owned(part.to_string()),
    }
}

/// `prefix:local` → (prefix, local); no prefix → ("", local).
fn split<'a>(input: &'a str, s: &str) -> Result<(Str<'a>, Str<'a>), SamlError> {
    // Bytes, not chars: `:` is ASCII, so its index is a character boundary.
    let (prefix, local) = match s.bytes().position(|b| b == b':') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => ("", s),
    };
    let had_colon = local.len() != s.len();
    if local.is_empty() || local.bytes().any(|b| b == b':') || (had_colon && prefix.is_empty()) {
        return Err(SamlError::Malformed("bad XML name"));
    }
    Ok((borrow(input, prefix), borrow(input, local)))
}

fn push_text<'a>(open: &mut [(Element<'a>, usize)], text: Str<'a>) -> Result<(), SamlError> {
    let Some((parent, _)) = open.last_mut() else {
        // Text outside the element: only whitespace could be there, and the range holds none.
        return Err(SamlError::Malformed("not well-formed XML"));
    };
    match parent.children.last_mut() {
        Some(Node::Text(prev)) => prev.to_mut().push_str(&text),
        _ => parent.children.push(Node::Text(text)),
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
