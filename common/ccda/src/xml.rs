//! A small streaming XML writer for CDA: elements are written in the order the
//! CDA schema requires, straight into one `String` (no DOM).
//!
//! Text and attribute values are escaped with the workspace's one escaper
//! (`xhuma-xml`), which also replaces characters XML 1.0 forbids with U+FFFD
//! (control characters in FHIR strings would otherwise make the whole document
//! unparseable, and dropping them could silently join "1", "05 mg" into
//! "105 mg"). Block elements are indented; inside an inline element (narrative
//! cells) no whitespace is added.

use xhuma_xml::escape_into as push_escaped;

pub struct Xml {
    buf: String,
    stack: Vec<(&'static str, bool)>,
    inline: usize,
    base: usize,
}

// === impl Xml ===

impl Xml {
    pub fn with_capacity(n: usize) -> Xml {
        let mut buf = String::with_capacity(n);
        buf.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
        Xml {
            buf,
            stack: Vec::with_capacity(32),
            inline: 0,
            base: 0,
        }
    }

    /// A fragment written separately (a section's narrative or its entries)
    /// and appended later with [`Xml::append`]; `depth` is where it will sit.
    pub fn fragment(depth: usize, n: usize) -> Xml {
        Xml {
            buf: String::with_capacity(n),
            stack: Vec::with_capacity(16),
            inline: 0,
            base: depth,
        }
    }

    /// Appends a finished fragment (its open elements are closed first).
    pub fn append(&mut self, mut other: Xml) {
        while !other.stack.is_empty() {
            other.close();
        }
        self.buf.push_str(&other.buf);
    }

    /// Nesting depth (for fragments that will be appended here).
    pub fn depth(&self) -> usize {
        self.base + self.stack.len()
    }

    fn indent(&mut self) {
        if self.inline == 0 {
            self.buf.push('\n');
            for _ in 0..self.base + self.stack.len() {
                self.buf.push_str("  ");
            }
        }
    }

    fn start(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.buf.push('<');
        self.buf.push_str(name);
        for (k, v) in attrs {
            self.buf.push(' ');
            self.buf.push_str(k);
            self.buf.push_str("=\"");
            push_escaped(&mut self.buf, v);
            self.buf.push('"');
        }
    }

    /// `<name attrs>` on its own line; children follow.
    pub fn open(&mut self, name: &'static str, attrs: &[(&str, &str)]) {
        self.indent();
        self.start(name, attrs);
        self.buf.push('>');
        self.stack.push((name, false));
    }

    /// `<name attrs>` whose content is mixed text (no indentation inside).
    pub fn open_inline(&mut self, name: &'static str, attrs: &[(&str, &str)]) {
        self.indent();
        self.start(name, attrs);
        self.buf.push('>');
        self.stack.push((name, true));
        self.inline += 1;
    }

    pub fn close(&mut self) {
        let Some((name, inline)) = self.stack.pop() else {
            return;
        };
        if inline {
            self.inline -= 1;
        } else {
            self.indent();
        }
        self.buf.push_str("</");
        self.buf.push_str(name);
        self.buf.push('>');
    }

    /// `<name attrs/>`.
    pub fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.indent();
        self.start(name, attrs);
        self.buf.push_str("/>");
    }

    /// `<name attrs>text</name>`.
    pub fn leaf(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) {
        self.indent();
        self.start(name, attrs);
        self.buf.push('>');
        push_escaped(&mut self.buf, text);
        self.buf.push_str("</");
        self.buf.push_str(name);
        self.buf.push('>');
    }

    /// Escaped text at the current position. Newlines become `<br/>` when
    /// `breaks` is set (narrative only).
    pub fn text(&mut self, text: &str, breaks: bool) {
        if !breaks {
            push_escaped(&mut self.buf, text);
            return;
        }
        for (i, line) in text.split('\n').enumerate() {
            if i > 0 {
                self.buf.push_str("<br/>");
            }
            push_escaped(&mut self.buf, line.trim_end_matches('\r'));
        }
    }

    pub fn finish(mut self) -> Vec<u8> {
        while !self.stack.is_empty() {
            self.close();
        }
        self.buf.push('\n');
        self.buf.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_replaces_forbidden_characters() {
        let mut x = Xml::with_capacity(64);
        x.open("a", &[("v", "1<2 \"q\"")]);
        x.leaf("b", &[], "x & y\u{1}\u{FFFE}");
        let out = String::from_utf8(x.finish()).unwrap_or_default();
        assert!(out.contains("v=\"1&lt;2 &quot;q&quot;\""));
        assert!(out.contains("<b>x &amp; y\u{FFFD}\u{FFFD}</b>"));
    }
}
