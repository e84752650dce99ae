//! The one XML escaper of the workspace.
//!
//! In: any `&str` some writer is about to put between tags or quotes: names and clinical text
//! from PDS and GP Connect (FHIR JSON, which can carry any code point, `\u0001` included), ids
//! echoed back from a request, SAML claim values, audit details. Out: text that is safe both as
//! element content and as a single- or double-quoted attribute value, and that any XML 1.0
//! parser reads back as the same string. The writers are `xhuma-gateway`'s `soap::markup` (SOAP
//! responses), `xhuma-ccda`'s `xml` (the C-CDA document), `xhuma-audit`'s `atna` (ATNA audit
//! messages) and `xhuma-test-idp` (signed SAML assertions).
//!
//! What changes:
//! - `&`, `<`, `>`, `"` and `'` become the predefined entities;
//! - tab, line feed and carriage return become character references (`&#9;`, `&#10;`,
//!   `&#13;`), so attribute-value normalisation (which turns them into spaces) and end-of-line
//!   handling (which turns CR into LF) cannot change them;
//! - every character XML 1.0 cannot carry at all — the C0 controls other than those three, and
//!   U+FFFE and U+FFFF (surrogates cannot occur in a `&str`) — becomes U+FFFD, the Unicode
//!   replacement character.
//!
//! Why replace rather than drop: a removed character joins its neighbours, so `"1\u{1}05 mg"`
//! would become a different dose, `"105 mg"`, with nothing to show it happened; Unicode's
//! security considerations (UTR #36, "Deletion of Code Points") recommend U+FFFD for the same
//! reason. Replacement keeps the damage visible to the clinician or the auditor reading the
//! output, and never turns one valid value into another.
//!
//! Nothing is allocated when nothing changes ([`escape`] returns the input borrowed); when
//! something does, the output is allocated once at its exact length, at most six times the input
//! (`"` → `&quot;`). The scan is byte-wise: every byte that can need a change is ASCII or the
//! lead byte 0xEF, so no UTF-8 decoding is needed.
#![forbid(unsafe_code)]

use std::borrow::Cow;

/// What a forbidden character becomes.
pub const REPLACEMENT: char = '\u{FFFD}';
const REPLACEMENT_STR: &str = "\u{FFFD}";

/// The longest replacement of one input byte (`&quot;`, `&apos;`): the output is at most this
/// many times the input.
pub const MAX_EXPANSION: usize = 6;

/// Escapes `s` for element content and for attribute values in either kind of quotes.
/// Borrowed when nothing changes.
pub fn escape(s: &str) -> Cow<'_, str> {
    let b = s.as_bytes();
    match next_change(b, 0) {
        None => Cow::Borrowed(s),
        Some(first) => {
            let mut out = String::with_capacity(escaped_len(b, first));
            out.push_str(&s[..first]);
            escape_from(&mut out, s, first);
            Cow::Owned(out)
        }
    }
}

/// [`escape`] appended to `out` (for writers that build one buffer, like the C-CDA writer).
pub fn escape_into(out: &mut String, s: &str) {
    let b = s.as_bytes();
    match next_change(b, 0) {
        None => out.push_str(s),
        Some(first) => {
            out.reserve(escaped_len(b, first));
            out.push_str(&s[..first]);
            escape_from(out, s, first);
        }
    }
}

/// True for a character XML 1.0 allows in a document (the `Char` production).
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Writes `s[at..]` escaped; `at` is the first byte that changes.
fn escape_from(out: &mut String, s: &str, mut at: usize) {
    let b = s.as_bytes();
    while let Some((rep, len)) = change_at(b, at) {
        out.push_str(rep);
        at += len;
        let next = next_change(b, at).unwrap_or(b.len());
        out.push_str(&s[at..next]);
        at = next;
    }
}

/// Exact length of the escaped text when its first change is at `first`.
fn escaped_len(b: &[u8], first: usize) -> usize {
    let mut len = first;
    let mut at = first;
    while at < b.len() {
        match change_at(b, at) {
            Some((rep, n)) => {
                len += rep.len();
                at += n;
            }
            None => {
                len += 1;
                at += 1;
            }
        }
    }
    len
}

/// Offset of the first byte at or after `from` that changes.
fn next_change(b: &[u8], from: usize) -> Option<usize> {
    (from..b.len()).find(|&i| MAY_CHANGE[usize::from(b[i])] && change_at(b, i).is_some())
}

/// Bytes that can start a change: the C0 controls, the five markup characters and 0xEF.
static MAY_CHANGE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'&' as usize] = true;
    t[b'<' as usize] = true;
    t[b'>' as usize] = true;
    t[b'"' as usize] = true;
    t[b'\'' as usize] = true;
    t[0xEF] = true;
    t
};

/// What the character starting at byte `i` becomes, and how many bytes it spans; `None` when
/// it is copied as is. Continuation bytes (0x80..=0xBF) never match, so `i` may be any offset.
#[inline]
fn change_at(b: &[u8], i: usize) -> Option<(&'static str, usize)> {
    let rep = match *b.get(i)? {
        b'&' => "&amp;",
        b'<' => "&lt;",
        b'>' => "&gt;",
        b'"' => "&quot;",
        b'\'' => "&apos;",
        b'\t' => "&#9;",
        b'\n' => "&#10;",
        b'\r' => "&#13;",
        0x00..=0x1F => REPLACEMENT_STR,
        // U+FFFE is EF BF BE and U+FFFF is EF BF BF in UTF-8.
        0xEF if b.get(i + 1) == Some(&0xBF) && matches!(b.get(i + 2), Some(0xBE | 0xBF)) => {
            return Some((REPLACEMENT_STR, 3));
        }
        _ => return None,
    };
    Some((rep, 1))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
