//! One namespace-aware pass over the whole SOAP envelope (quick-xml), before any tree is built.
//!
//! It refuses what must never reach the signature check (DTDs, unknown entities, duplicate
//! IDs, excessive depth, other encodings, more nodes than [`MAX_NODES`]) and what two readers
//! of the same bytes could see differently: namespace names written with character or entity
//! references or with whitespace. It notes every SAML 2.0 assertion anywhere in the envelope,
//! so the verifier can prove the tree it reads claims from holds all of them (same count, same
//! IDs, directly in the header) before any claim is read, and where `wsse:Security` and
//! `soap:Body` are, with the namespace declarations above them, so [`super::tree`] can build
//! just those. The claims themselves are read from that tree, never from this pass.

use std::collections::HashSet;
use std::ops::Range;

use quick_xml::events::Event;
use quick_xml::events::attributes::Attribute;
use quick_xml::name::ResolveResult;
use quick_xml::{NsReader, XmlVersion};

use super::SamlError;
use super::ns;

/// Deepest element nesting accepted anywhere in the envelope.
const MAX_DEPTH: usize = 96;
/// Largest envelope handed to the verifier (the HTTP layer normally limits far below this).
pub(super) const MAX_ENVELOPE_BYTES: usize = 32 * 1024 * 1024;
/// Most nodes one envelope may have: elements, attributes (two each: the attribute and its
/// value), namespace declarations, text, CDATA, comments and PIs. (When libxml2 parsed every
/// signed envelope, 4 MiB of `<!---->` grew the gateway by 169 MiB before any signature was
/// checked.) An Epic request has a few hundred nodes; an ITI-39 for 20 documents about a
/// thousand.
pub(super) const MAX_NODES: usize = 50_000;
/// What a tree node may cost, at most (names and content are paid for by
/// [`Scan::tree_bytes`]'s share of the envelope size).
const NODE_BYTES: usize = 256;

/// What the pass found.
#[derive(Debug, Default)]
pub(super) struct Scan {
    /// `wsse:Security` blocks directly in `soap:Header` (0 or 1; more are refused).
    pub security_headers: usize,
    /// The `ID` of every `saml2:Assertion` anywhere in the envelope, in document order (empty
    /// string when it has none).
    pub assertion_ids: Vec<String>,
    /// How many `wsu:Id` attributes the envelope has.
    pub wsu_ids: usize,
    /// The envelope's nodes (at most [`MAX_NODES`]).
    pub nodes: usize,
    /// Namespace declarations on `soap:Envelope`, then on `soap:Header`, as written.
    pub envelope_ns: Vec<(String, String)>,
    pub header_ns: Vec<(String, String)>,
    /// Where `wsse:Security` is (start tag to end tag).
    pub security_range: Option<Range<usize>>,
    /// Where `soap:Body` is, and its `wsu:Id` (a header signature may cover it).
    pub body_range: Option<Range<usize>>,
    pub body_wsu_id: Option<String>,
}

impl Scan {
    /// An upper bound on what the trees of the signature check of an `envelope_len`-byte
    /// envelope with these nodes allocate: the nodes, plus names and content, which are no
    /// larger than the bytes they were written in (twice: the tree and the canonical form).
    pub fn tree_bytes(&self, envelope_len: usize) -> usize {
        self.nodes * NODE_BYTES + 2 * envelope_len
    }

    fn add_nodes(&mut self, n: usize) -> Result<(), SamlError> {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            return Err(SamlError::Malformed("too many XML nodes"));
        }
        Ok(())
    }
}

/// The namespaces the pass tells apart (compared where they are read, never copied).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    /// No namespace.
    None,
    Soap12,
    Wsse,
    Wsu,
    Saml2,
    Xml,
    Other,
}

impl Known {
    fn of(namespace: &str) -> Self {
        match namespace {
            "" => Self::None,
            ns::SOAP12 => Self::Soap12,
            ns::WSSE => Self::Wsse,
            ns::WSU => Self::Wsu,
            ns::SAML2 => Self::Saml2,
            ns::XML => Self::Xml,
            _ => Self::Other,
        }
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
    // One entry per open element: what it is, as far as the checks below care (names are
    // compared where they are read, so nothing is copied per element), and where it started.
    let mut path: Vec<(Open, usize)> = Vec::new();
    let mut seen_root = false;

    loop {
        let before = position(&reader);
        let (resolved, event) = reader
            .read_resolved_event()
            .map_err(|_| SamlError::Malformed("not well-formed XML"))?;
        let element_ns = match &resolved {
            ResolveResult::Bound(n) => Known::of(n.as_ref()),
            ResolveResult::Unbound => Known::None,
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
                out.add_nodes(1)?;
                let local = start.local_name();
                let local = local.as_ref();
                let depth = path.len();
                let parent = path.last().map(|(o, _)| *o);
                let kind = match (depth, element_ns, local) {
                    (1, Known::Soap12, "Header") => Open::Header,
                    (1, Known::Soap12, "Body") => Open::Body,
                    (2, Known::Wsse, "Security") if parent == Some(Open::Header) => Open::Security,
                    _ => Open::Other,
                };
                let mut assertion_id = None;
                for attr in start.attributes() {
                    let attr = attr.map_err(|_| SamlError::Malformed("bad attribute"))?;
                    if is_xmlns(&attr) {
                        out.add_nodes(1)?;
                        check_namespace_name(attr.value.as_bytes())?;
                        if depth == 0 || kind == Open::Header {
                            let binding = binding(&attr)?;
                            if depth == 0 {
                                out.envelope_ns.push(binding);
                            } else {
                                out.header_ns.push(binding);
                            }
                        }
                        continue;
                    }
                    out.add_nodes(2)?;
                    let (ans, alocal) = reader.resolver().resolve_attribute(attr.key);
                    let ans = match ans {
                        ResolveResult::Bound(n) => Known::of(n.as_ref()),
                        ResolveResult::Unbound => Known::None,
                        ResolveResult::Unknown(_) => {
                            return Err(SamlError::Malformed("unbound attribute prefix"));
                        }
                    };
                    let alocal = alocal.as_ref();
                    let is_wsu_id = ans == Known::Wsu && alocal == "Id";
                    if is_wsu_id {
                        out.wsu_ids += 1;
                    }
                    if !is_id_attr(ans, alocal) {
                        continue;
                    }
                    let value = attr
                        .normalized_value(XmlVersion::Implicit1_0)
                        .map_err(|_| SamlError::Malformed("bad attribute value"))?
                        .into_owned();
                    if is_wsu_id && kind == Open::Body {
                        out.body_wsu_id = Some(value.clone());
                    }
                    if ids.contains(&value) {
                        return Err(SamlError::Malformed("duplicate ID"));
                    }
                    if ans == Known::None && alocal == "ID" {
                        assertion_id = Some(value.clone());
                    }
                    ids.insert(value);
                }
                if depth == 0 && !(element_ns == Known::Soap12 && local == "Envelope") {
                    return Err(SamlError::Malformed("not a SOAP 1.2 envelope"));
                }
                if element_ns == Known::Saml2 && local == "Assertion" {
                    out.assertion_ids.push(assertion_id.unwrap_or_default());
                }
                if kind == Open::Security {
                    out.security_headers += 1;
                    if out.security_headers > 1 {
                        return Err(SamlError::Malformed("more than one wsse:Security header"));
                    }
                }
                if kind == Open::Body && out.body_range.is_some() {
                    return Err(SamlError::Malformed("more than one soap:Body"));
                }
                path.push((kind, before));
            }
            Event::End(_) => {
                if let Some((kind, start)) = path.pop() {
                    let range = Some(start..position(&reader));
                    match kind {
                        Open::Security => out.security_range = range,
                        Open::Body => out.body_range = range,
                        Open::Header | Open::Other => {}
                    }
                }
            }
            Event::GeneralRef(r) => {
                out.add_nodes(1)?;
                if r.is_char_ref() {
                    r.resolve_char_ref()
                        .map_err(|_| SamlError::Malformed("bad character reference"))?
                        .ok_or(SamlError::Malformed("bad character reference"))?;
                } else if predefined_entity(&r.xml10_content()).is_none() {
                    return Err(SamlError::Malformed("undefined entity"));
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
            // Text is read from the tree; comments and PIs carry nothing we read, but each is
            // a node.
            Event::Text(_) | Event::CData(_) | Event::Comment(_) | Event::PI(_) => {
                out.add_nodes(1)?;
            }
            // Not produced: `expand_empty_elements` makes every element a Start and an End.
            Event::Empty(_) => {}
        }
    }
    if !seen_root || !path.is_empty() {
        return Err(SamlError::Malformed("not well-formed XML"));
    }
    Ok(out)
}

/// A namespace name is compared as written: allow only values every reader reads the same way
/// (no `&` references, no whitespace that attribute-value normalisation would change, nothing
/// that is not plain printable text).
fn check_namespace_name(raw: &[u8]) -> Result<(), SamlError> {
    if raw
        .iter()
        .any(|b| matches!(b, b'&' | b'<' | b'\t' | b'\n' | b'\r' | b' ') || *b < 0x20)
    {
        return Err(SamlError::Malformed(
            "namespace name with a reference or whitespace",
        ));
    }
    Ok(())
}

/// The parts of an open element the pass tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Header,
    Body,
    Security,
    Other,
}

/// Bytes read so far.
fn position(reader: &NsReader<&[u8]>) -> usize {
    usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX)
}

/// A namespace declaration (already checked) as (prefix, name).
fn binding(attr: &Attribute<'_>) -> Result<(String, String), SamlError> {
    let key: &str = attr.key.as_ref();
    let prefix = key.strip_prefix("xmlns:").unwrap_or_default();
    let value: &str = attr.value.as_ref();
    Ok((prefix.to_string(), value.to_string()))
}

fn is_xmlns(attr: &Attribute<'_>) -> bool {
    let key = attr.key.as_ref();
    key == "xmlns" || key.starts_with("xmlns:")
}

/// Attribute names that XML-DSig references can point at, in any namespace (ID registration in
/// XML-DSig libraries, libxml2's `xmlHasProp`, ignores namespaces, so a value must be unique
/// across all of them).
fn is_id_attr(ns: Known, local: &str) -> bool {
    matches!(local, "ID" | "Id" | "AssertionID") || (ns == Known::Xml && local == "id")
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
