//! The owned view of `wsse:Security` that [`super::assertion`] reads, built from the libxml2
//! tree — the very nodes whose signatures [`super::dsig`] verifies.
//!
//! Reading claims from a second parser's idea of the document is how SAML verifiers get
//! bypassed (two parsers that disagree on a namespace written with a character reference, and
//! the signature is checked on one element while the claims come from another). So there is
//! one XML truth: libxml2 parses, libxmlsec1 verifies a node of that parse, and the claims are
//! copied out of the same node. Comments and processing instructions are dropped, so a value
//! split by a comment reads whole, exactly as exclusive canonicalisation (what the signature
//! covers) sees it.

use libxml::tree::{Node as XmlNode, NodeType};

use super::SamlError;

/// Most elements copied from the `wsse:Security` header.
const MAX_ELEMENTS: usize = 4096;
/// Deepest nesting copied below `wsse:Security`.
const MAX_DEPTH: usize = 32;

/// An element of the copied `wsse:Security` subtree.
#[derive(Debug, Clone, Default)]
pub(super) struct Element {
    pub ns: String,
    pub name: String,
    /// (namespace, local name, value); namespace is empty when unqualified.
    pub attrs: Vec<(String, String, String)>,
    pub children: Vec<Node>,
}

#[derive(Debug, Clone)]
pub(super) enum Node {
    Element(Element),
    Text(String),
}

// === impl Element ===

impl Element {
    /// Copies `node` (an element) and its subtree.
    pub fn from_libxml(node: &XmlNode) -> Result<Self, SamlError> {
        let mut budget = MAX_ELEMENTS;
        copy(node, 0, &mut budget)
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

fn copy(node: &XmlNode, depth: usize, budget: &mut usize) -> Result<Element, SamlError> {
    if depth > MAX_DEPTH {
        return Err(SamlError::Malformed("wsse:Security header nested too deep"));
    }
    *budget = budget
        .checked_sub(1)
        .ok_or(SamlError::Malformed("wsse:Security header too large"))?;
    let mut attrs: Vec<(String, String, String)> = node
        .get_properties_ns()
        .into_iter()
        .map(|((name, ns), value)| (ns.map(|n| n.get_href()).unwrap_or_default(), name, value))
        .collect();
    // libxml2 keeps document order; the binding hands back a map. Sort for a stable view.
    attrs.sort();
    let mut out = Element {
        ns: node
            .get_namespace()
            .map(|n| n.get_href())
            .unwrap_or_default(),
        name: node.get_name(),
        attrs,
        children: Vec::new(),
    };
    for child in node.get_child_nodes() {
        match child.get_type() {
            Some(NodeType::ElementNode) => {
                out.children
                    .push(Node::Element(copy(&child, depth + 1, budget)?));
            }
            Some(NodeType::TextNode | NodeType::CDataSectionNode) => {
                let text = child.get_content();
                match out.children.last_mut() {
                    Some(Node::Text(prev)) => prev.push_str(&text),
                    _ => out.children.push(Node::Text(text)),
                }
            }
            // Comments and processing instructions are not covered by exc-c14n's digest of
            // text, and carry nothing we read.
            Some(NodeType::CommentNode | NodeType::PiNode) => {}
            // Entity references cannot occur (DTDs are refused before libxml2 parses); anything
            // else is not something a SAML header holds.
            _ => return Err(SamlError::Malformed("unexpected node in wsse:Security")),
        }
    }
    Ok(out)
}
