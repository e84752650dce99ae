//! Exclusive XML Canonicalization 1.0 without comments (<https://www.w3.org/TR/xml-exc-c14n/>)
//! of one element of a [`Element`] tree: the octets an XML-DSig reference digests and a
//! `SignedInfo` is signed as.
//!
//! Input: the apex element, the namespace bindings in scope at its parent (outermost first),
//! the `InclusiveNamespaces PrefixList` of the transform, and at most one descendant to leave
//! out (the enveloped-signature transform: the `ds:Signature` inside the signed assertion).
//! Output: bytes, no I/O. The tree already holds what canonicalisation needs and nothing it
//! drops: character references resolved, line ends and attribute values normalised, comments
//! removed, no processing instructions, no DTD.
//!
//! The rules, as they apply to an element subtree (no document node, every descendant output):
//! - a namespace declaration is written on an element when its prefix is *visibly utilised*
//!   there (the element's prefix, or a prefix of one of its attributes; no prefix means the
//!   default namespace) or is in the PrefixList, and the nearest output ancestor did not
//!   already write the same binding; `xmlns=""` only to undo a default an ancestor wrote;
//!   the `xml` prefix is never declared;
//! - declarations sorted by prefix (the default first), then attributes sorted by namespace
//!   name then local name (unqualified first), each `name="value"`;
//! - empty elements as a start and an end tag; text and attribute values escaped as the
//!   specification says (`&amp; &lt; &gt; &#xD;` in text, `&amp; &lt; &quot; &#x9; &#xA; &#xD;`
//!   in attributes).
//!
//! libxmlsec1 (the library this replaced) is kept as the oracle in the tests: every fixture and
//! every signature the test IdP makes must canonicalise to the same digest.

use super::tree::{Binding, Element, Node};

/// The canonical form of `apex`, appended to `out` (a buffer the caller may reuse).
pub(super) fn exclusive(
    apex: &Element<'_>,
    in_scope: &[Binding<'_>],
    inclusive_prefixes: &[String],
    omit: Option<&Element<'_>>,
    out: &mut Vec<u8>,
) {
    let mut c = Canonicaliser {
        scope: in_scope
            .iter()
            .map(|(p, u)| (p.as_ref(), u.as_ref()))
            .collect(),
        rendered: Vec::new(),
        inclusive: inclusive_prefixes,
        omit: omit.map(|e| e as *const Element<'_> as *const ()),
        out,
    };
    c.element(apex);
}

/// A binding as the canonicaliser tracks it: borrowed from the tree, never copied.
type Bound<'t> = (&'t str, &'t str);

struct Canonicaliser<'t, 'o> {
    /// Bindings in scope (innermost last).
    scope: Vec<Bound<'t>>,
    /// Bindings written by output ancestors (innermost last).
    rendered: Vec<Bound<'t>>,
    inclusive: &'t [String],
    /// The element left out, compared by address (the enveloped signature is one node).
    omit: Option<*const ()>,
    out: &'o mut Vec<u8>,
}

impl<'t> Canonicaliser<'t, '_> {
    fn element(&mut self, e: &'t Element<'_>) {
        let scope_mark = self.scope.len();
        self.scope
            .extend(e.ns_decls.iter().map(|(p, u)| (p.as_ref(), u.as_ref())));

        // Prefixes this element may need declared: visibly utilised ones, then the listed ones.
        let wanted = std::iter::once(e.prefix.as_ref())
            .chain(
                e.attrs
                    .iter()
                    .map(|a| a.prefix.as_ref())
                    .filter(|p: &&str| !p.is_empty()),
            )
            .chain(self.inclusive.iter().map(String::as_str));
        let mut declare: Vec<Bound<'t>> = Vec::new();
        // A listed prefix not in scope here is not declared; a visibly utilised one is always
        // in scope (unbound prefixes were refused when the tree was built).
        for prefix in wanted {
            if prefix == "xml" || declare.iter().any(|(p, _)| *p == prefix) {
                continue;
            }
            let bound = lookup(&self.scope, prefix);
            let written = lookup(&self.rendered, prefix);
            if prefix.is_empty() {
                // The default namespace: written when it differs from what the nearest output
                // ancestor wrote (never written counts as none). A listed `#default` that is
                // not visibly utilised follows the same rule (Canonical XML's).
                let uri = bound.unwrap_or("");
                if uri != written.unwrap_or("") {
                    declare.push(("", uri));
                }
            } else if let Some(uri) = bound
                && written != Some(uri)
            {
                declare.push((prefix, uri));
            }
        }
        declare.sort_by(|a, b| a.0.cmp(b.0));

        self.out.push(b'<');
        qname(self.out, &e.prefix, &e.name);
        for (prefix, uri) in &declare {
            if prefix.is_empty() {
                self.out.extend_from_slice(b" xmlns=\"");
            } else {
                self.out.extend_from_slice(b" xmlns:");
                self.out.extend_from_slice(prefix.as_bytes());
                self.out.extend_from_slice(b"=\"");
            }
            attribute_value(self.out, uri);
            self.out.push(b'"');
        }
        let mut attrs: Vec<_> = e.attrs.iter().collect();
        attrs.sort_by(|a, b| (&*a.ns, &*a.local).cmp(&(&*b.ns, &*b.local)));
        for a in attrs {
            self.out.push(b' ');
            qname(self.out, &a.prefix, &a.local);
            self.out.extend_from_slice(b"=\"");
            attribute_value(self.out, &a.value);
            self.out.push(b'"');
        }
        self.out.push(b'>');

        let rendered_mark = self.rendered.len();
        self.rendered.extend(declare);
        for child in &e.children {
            match child {
                Node::Text(t) => text(self.out, t),
                Node::Element(c) if self.omit == Some(c as *const Element<'_> as *const ()) => {}
                Node::Element(c) => self.element(c),
            }
        }
        self.rendered.truncate(rendered_mark);
        self.scope.truncate(scope_mark);

        self.out.extend_from_slice(b"</");
        qname(self.out, &e.prefix, &e.name);
        self.out.push(b'>');
    }
}

/// The innermost binding of `prefix`.
fn lookup<'t>(bindings: &[Bound<'t>], prefix: &str) -> Option<&'t str> {
    bindings
        .iter()
        .rev()
        .find(|(p, _)| *p == prefix)
        .map(|(_, uri)| *uri)
}

fn qname(out: &mut Vec<u8>, prefix: &str, local: &str) {
    if !prefix.is_empty() {
        out.extend_from_slice(prefix.as_bytes());
        out.push(b':');
    }
    out.extend_from_slice(local.as_bytes());
}

fn text(out: &mut Vec<u8>, s: &str) {
    for b in s.bytes() {
        match b {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'\r' => out.extend_from_slice(b"&#xD;"),
            _ => out.push(b),
        }
    }
}

fn attribute_value(out: &mut Vec<u8>, s: &str) {
    for b in s.bytes() {
        match b {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'"' => out.extend_from_slice(b"&quot;"),
            b'\t' => out.extend_from_slice(b"&#x9;"),
            b'\n' => out.extend_from_slice(b"&#xA;"),
            b'\r' => out.extend_from_slice(b"&#xD;"),
            _ => out.push(b),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn c14n(xml: &str, in_scope: &[(&str, &str)], inclusive: &[&str]) -> String {
        let scope: Vec<Binding> = in_scope
            .iter()
            .map(|(p, u)| ((*p).into(), (*u).into()))
            .collect();
        let e = Element::parse(xml.as_bytes(), &scope, 100).unwrap();
        let inclusive: Vec<String> = inclusive.iter().map(|s| s.to_string()).collect();
        let mut out = Vec::new();
        exclusive(&e, &scope, &inclusive, None, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn only_visibly_utilised_namespaces_are_declared() {
        let out = c14n(
            r#"<s:A xmlns:u="urn:u" b="2" a="1"><s:B/><u:C s:x="1"/></s:A>"#,
            &[("s", "urn:s"), ("z", "urn:z")],
            &[],
        );
        assert_eq!(
            out,
            r#"<s:A xmlns:s="urn:s" a="1" b="2"><s:B></s:B><u:C xmlns:u="urn:u" s:x="1"></u:C></s:A>"#
        );
    }

    #[test]
    fn attributes_sort_by_namespace_then_name_and_values_escape() {
        let out = c14n(
            "<A xmlns:b=\"urn:b\" xmlns:a=\"urn:z\" b:k=\"&lt;&amp;&quot;&#9;&#10;&#13;\" a:k=\"x\" k=\"1 \t2\">&#13;x&gt;&lt;&amp;<![CDATA[<y>]]></A>",
            &[],
            &[],
        );
        assert_eq!(
            out,
            "<A xmlns:a=\"urn:z\" xmlns:b=\"urn:b\" k=\"1  2\" b:k=\"&lt;&amp;&quot;&#x9;&#xA;&#xD;\" a:k=\"x\">&#xD;x&gt;&lt;&amp;&lt;y&gt;</A>"
        );
    }

    #[test]
    fn default_namespace_is_undone_only_where_an_ancestor_wrote_one() {
        let out = c14n(
            r#"<A xmlns="urn:d"><B xmlns=""><C/></B><x:D xmlns:x="urn:x"><E/></x:D></A>"#,
            &[],
            &[],
        );
        assert_eq!(
            out,
            r#"<A xmlns="urn:d"><B xmlns=""><C></C></B><x:D xmlns:x="urn:x"><E></E></x:D></A>"#
        );
        // No ancestor wrote a default: none to undo.
        assert_eq!(c14n(r#"<A xmlns=""/>"#, &[], &[]), "<A></A>");
    }

    #[test]
    fn listed_prefixes_follow_inclusive_rules() {
        let out = c14n(
            r#"<s:A xsi:type="xs:string" xmlns:xsi="urn:xsi"><s:B/></s:A>"#,
            &[("s", "urn:s"), ("xs", "urn:xs")],
            &["xs"],
        );
        assert_eq!(
            out,
            r#"<s:A xmlns:s="urn:s" xmlns:xs="urn:xs" xmlns:xsi="urn:xsi" xsi:type="xs:string"><s:B></s:B></s:A>"#
        );
    }

    #[test]
    fn comments_go_and_the_xml_prefix_is_never_declared() {
        let out = c14n(r#"<A xml:lang="en">a<!-- c -->b</A>"#, &[], &[]);
        assert_eq!(out, r#"<A xml:lang="en">ab</A>"#);
    }
}
