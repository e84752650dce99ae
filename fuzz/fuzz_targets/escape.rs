//! Fuzzes the workspace's one XML escaper, `xhuma_xml::escape`.
//!
//! In: any bytes, made a string (invalid UTF-8 becomes U+FFFD first). Checked: the output
//! holds only characters XML 1.0 allows; quick-xml reads it back, as element content and as a
//! double- and a single-quoted attribute value, as exactly the input with every forbidden
//! character replaced by U+FFFD; it is borrowed exactly when nothing changed; and the call
//! allocates at most 6 × the input (once, the exact output; nothing when borrowed).
#![no_main]

use std::borrow::Cow;

use libfuzzer_sys::fuzz_target;
use quick_xml::events::Event;
use xhuma_fuzz::{K_ESCAPE, check_bound, measure};
use xhuma_xml::{REPLACEMENT, escape, is_xml_char};

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let (out, peak) = measure(|| escape(&s));
    check_bound("escape", s.len(), peak, K_ESCAPE, 0);

    let want: String = s
        .chars()
        .map(|c| if is_xml_char(c) { c } else { REPLACEMENT })
        .collect();
    assert!(
        out.chars().all(is_xml_char),
        "forbidden character in {out:?}"
    );
    assert_eq!(matches!(out, Cow::Borrowed(_)), *out == *s);
    let (x, y, text) = read_back(&out);
    assert_eq!(x, want, "double-quoted attribute");
    assert_eq!(y, want, "single-quoted attribute");
    assert_eq!(text, want, "element content");
});

/// `<a x="…" y='…'>…</a>` read with quick-xml: (x, y, text).
fn read_back(escaped: &str) -> (String, String, String) {
    let doc = format!("<a x=\"{escaped}\" y='{escaped}'>{escaped}</a>");
    let mut reader = quick_xml::Reader::from_str(&doc);
    reader.config_mut().check_end_names = true;
    let (mut x, mut y, mut text) = (String::new(), String::new(), String::new());
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                for a in e.attributes() {
                    let a = a.expect("attribute");
                    let v = a
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .expect("attribute value")
                        .into_owned();
                    if a.key.as_ref() == "x" {
                        x = v;
                    } else {
                        y = v;
                    }
                }
            }
            Ok(Event::Text(t)) => text.push_str(&t.xml10_content()),
            Ok(Event::GeneralRef(r)) => match r.resolve_char_ref().expect("character reference") {
                Some(c) => text.push(c),
                None => text.push_str(match r.as_ref() {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    other => panic!("entity {other} the escaper never writes"),
                }),
            },
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("escaped text is not well-formed in {doc:?}: {e}"),
        }
    }
    (x, y, text)
}
