use super::*;

use proptest::prelude::*;
use quick_xml::events::Event;

/// The escaper written the obvious way, one `char` at a time: the model the fast one must match.
fn model(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if !is_xml_char(c) => out.push(REPLACEMENT),
            c => out.push(c),
        }
    }
    out
}

/// What a parser must read back: the input with forbidden characters replaced.
fn cleaned(s: &str) -> String {
    s.chars()
        .map(|c| if is_xml_char(c) { c } else { REPLACEMENT })
        .collect()
}

/// Parses `<a x="…" y='…'>…</a>` with quick-xml; returns (x, y, text).
fn read_back(escaped: &str) -> (String, String, String) {
    let doc = format!("<a x=\"{escaped}\" y='{escaped}'>{escaped}</a>");
    let mut reader = quick_xml::Reader::from_str(&doc);
    reader.config_mut().check_end_names = true;
    let (mut x, mut y, mut text) = (String::new(), String::new(), String::new());
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) => {
                for a in e.attributes() {
                    let a = a.unwrap();
                    let v = a
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .unwrap()
                        .into_owned();
                    match a.key.as_ref() {
                        "x" => x = v,
                        _ => y = v,
                    }
                }
            }
            Event::Text(t) => text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => match r.resolve_char_ref().unwrap() {
                Some(c) => text.push(c),
                None => text.push_str(match r.as_ref() {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    other => panic!("unexpected entity {other}"),
                }),
            },
            Event::Eof => break,
            _ => {}
        }
    }
    (x, y, text)
}

#[test]
fn replaces_what_xml_cannot_carry() {
    assert_eq!(
        escape("SMITH\u{1}\u{1b}\u{FFFF}, Jo"),
        "SMITH\u{FFFD}\u{FFFD}\u{FFFD}, Jo"
    );
    assert_eq!(escape("x & y\u{1}\u{FFFE}"), "x &amp; y\u{FFFD}\u{FFFD}");
    assert_eq!(escape("\u{0}"), "\u{FFFD}");
    // Allowed, if unusual: DEL, C1 controls, other noncharacters, the last code point.
    let odd = "\u{7F}\u{85}\u{FDD0}\u{1FFFE}\u{10FFFF}\u{FFFD}\u{EFBF}\u{FFEF}";
    assert!(matches!(escape(odd), Cow::Borrowed(_)));
    assert_eq!(escape("tab\there"), "tab&#9;here");
}

#[test]
fn escapes_markup_quotes_and_line_ends() {
    assert!(matches!(escape("plain"), Cow::Borrowed("plain")));
    assert!(matches!(escape(""), Cow::Borrowed("")));
    assert_eq!(
        escape("<a href=\"x\">'&'</a>\n"),
        "&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;&#10;"
    );
    assert_eq!(escape("a\r\nb"), "a&#13;&#10;b");
    assert_eq!(escape("]]>"), "]]&gt;");
    assert_eq!(escape("1<2 \"q\""), "1&lt;2 &quot;q&quot;");
}

#[test]
fn escape_into_appends() {
    let mut out = String::from("<v>");
    escape_into(&mut out, "a&b");
    escape_into(&mut out, "plain");
    assert_eq!(out, "<v>a&amp;bplain");
}

#[test]
fn worst_case_expansion_is_six() {
    let s = "\"'".repeat(100);
    assert_eq!(escape(&s).len(), s.len() * MAX_EXPANSION);
}

/// Characters weighted towards the ones that matter, with any `char` mixed in.
fn text() -> impl Strategy<Value = String> {
    let special = prop::sample::select(vec![
        '&',
        '<',
        '>',
        '"',
        '\'',
        '\t',
        '\n',
        '\r',
        '\u{0}',
        '\u{1}',
        '\u{1F}',
        ' ',
        'a',
        'é',
        '\u{7F}',
        '\u{D7FF}',
        '\u{E000}',
        '\u{EFFF}',
        '\u{FFFD}',
        '\u{FFFE}',
        '\u{FFFF}',
        '\u{10000}',
        '\u{10FFFF}',
    ]);
    prop::collection::vec(prop_oneof![3 => special, 1 => any::<char>()], 0..48)
        .prop_map(|v| v.into_iter().collect())
}

proptest! {
    #[test]
    fn matches_the_model(s in text()) {
        let out = escape(&s);
        prop_assert_eq!(&*out, model(&s));
        prop_assert_eq!(matches!(out, Cow::Borrowed(_)), *out == *s);
        prop_assert!(out.len() <= s.len() * MAX_EXPANSION);
        let mut appended = String::from("x");
        escape_into(&mut appended, &s);
        prop_assert_eq!(&appended[1..], &*out);
    }

    #[test]
    fn reads_back_as_the_cleaned_input(s in text()) {
        let escaped = escape(&s);
        prop_assert!(escaped.chars().all(is_xml_char));
        let (x, y, t) = read_back(&escaped);
        let want = cleaned(&s);
        prop_assert_eq!(x, want.clone());
        prop_assert_eq!(y, want.clone());
        prop_assert_eq!(t, want);
    }
}
