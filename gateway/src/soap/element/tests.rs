use super::*;

fn no_xop(_: &str) -> Option<String> {
    None
}

fn parse_str(s: &str) -> Result<Element, XmlError> {
    parse(s.as_bytes(), Limits::default(), &no_xop)
}

#[test]
fn resolves_any_prefix() {
    let a = parse_str(r#"<x:a xmlns:x="urn:n"><x:b k="v">t</x:b></x:a>"#).unwrap();
    let b = parse_str("<a xmlns=\"urn:n\">\n  <b\n k=\"v\">t</b></a>").unwrap();
    assert_eq!(a.child("urn:n", "b").unwrap().attr("k"), Some("v"));
    assert_eq!(b.child("urn:n", "b").unwrap().text, "t");
}

#[test]
fn accepts_any_xml_name() {
    let a = parse_str(
        r#"<_a.b-c xmlns:p.q="urn:n" p.q:x·1="v" xml:lang="en"><p.q:Ünïcödé/><é9/></_a.b-c>"#,
    )
    .unwrap();
    assert_eq!(a.local, "_a.b-c");
    assert_eq!(a.attr_ns("urn:n", "x·1"), Some("v"));
    assert!(a.children[0].is("urn:n", "Ünïcödé"));
    assert_eq!(a.children[1].local, "é9");
}

#[test]
fn predefined_and_char_refs() {
    let a = parse_str(r#"<a v="x&amp;y">1&lt;2&#65;&#x42;</a>"#).unwrap();
    assert_eq!(a.attr("v"), Some("x&y"));
    assert_eq!(a.text, "1<2AB");
}

#[test]
fn hostile_inputs_are_typed_errors() {
    let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><lolz>&lol2;</lolz>"#;
    let cases: &[(&str, XmlError)] = &[
        (laughs, XmlError::Doctype),
        ("<a>&xxe;</a>", XmlError::Entity),
        ("<a v=\"&xxe;\"/>", XmlError::Entity),
        ("<a><b></a>", XmlError::Malformed),
        ("<a>", XmlError::Malformed),
        ("", XmlError::Empty),
        ("<p:a/>", XmlError::UnboundPrefix),
        ("<a/><b/>", XmlError::Malformed),
        ("text<a/>", XmlError::Malformed),
        // Found by the `envelope` fuzz target: the serialiser could not write such a name back.
        ("<xmlns:a/>", XmlError::Malformed),
        ("<r><xmlns:n:H/></r>", XmlError::Malformed),
        // Names quick-xml reads but XML does not allow (the first two also found by fuzzing).
        ("<r xmlns:s=\"urn:s\"><s:H<x:H/></r>", XmlError::Malformed),
        ("<r xmlns:s=\"urn:s\"><s:a:b/></r>", XmlError::Malformed),
        ("<r a\u{0}b=\"1\"/>", XmlError::Malformed),
        ("<r 1a=\"1\"/>", XmlError::Malformed),
        ("<-r/>", XmlError::Malformed),
    ];
    for (input, want) in cases {
        assert_eq!(parse_str(input).as_ref().err(), Some(want), "{input}");
    }
    assert_eq!(
        parse(&[0xff, 0xfe, b'<'], Limits::default(), &no_xop).err(),
        Some(XmlError::Encoding)
    );
}

#[test]
fn depth_and_size_limits() {
    let deep = "<a>".repeat(100) + &"</a>".repeat(100);
    assert_eq!(parse_str(&deep).err(), Some(XmlError::TooDeep));
    let many = format!("<a>{}</a>", "<b/>".repeat(200));
    let limits = Limits {
        max_elements: 100,
        ..Limits::default()
    };
    assert_eq!(
        parse(many.as_bytes(), limits, &no_xop).err(),
        Some(XmlError::TooLarge)
    );
}

#[test]
fn spans_cover_elements() {
    let src = r#"<a><b x="1"><c/></b></a>"#;
    let a = parse_str(src).unwrap();
    let b = &a.children[0];
    assert_eq!(&src[b.span.clone()], r#"<b x="1"><c/></b>"#);
    assert_eq!(&src[b.children[0].span.clone()], "<c/>");
}

#[test]
fn xop_include_is_replaced() {
    let src = r#"<a><d><xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" href="cid:p1"/></d></a>"#;
    let a = parse(src.as_bytes(), Limits::default(), &|href| {
        (href == "cid:p1").then(|| "QUJD".to_string())
    })
    .unwrap();
    assert_eq!(a.children[0].text, "QUJD");
    assert!(a.children[0].children.is_empty());
}

#[test]
fn namespace_names_are_interned_and_bounded() {
    let doc = "<a:r xmlns:a=\"urn:x\"><a:c/><a:c/></a:r>";
    let root = parse_str(doc).unwrap();
    assert!(std::sync::Arc::ptr_eq(&root.ns, &root.children[0].ns));
    assert!(std::sync::Arc::ptr_eq(
        &root.children[0].ns,
        &root.children[1].ns
    ));
    let long = format!(
        "<a:r xmlns:a=\"urn:{}\"/>",
        "x".repeat(super::MAX_NAMESPACE_BYTES)
    );
    assert_eq!(parse_str(&long).err(), Some(XmlError::TooLarge));
    let many: String = (0..=super::MAX_NAMESPACES)
        .map(|i| format!("<n{i}:c xmlns:n{i}=\"urn:{i}\"/>"))
        .collect();
    assert_eq!(
        parse_str(&format!("<r>{many}</r>")).err(),
        Some(XmlError::TooLarge)
    );
}

#[test]
fn each_include_once_within_twice_the_message() {
    let part = |_: &str| Some("QUJD".to_string());
    let twice = "<r xmlns:x=\"http://www.w3.org/2004/08/xop/include\"><x:Include href=\"cid:a\"/><x:Include href=\"cid:a\"/></r>";
    assert_eq!(
        parse(twice.as_bytes(), Limits::default(), &part).err(),
        Some(XmlError::IncludeBudget)
    );
    let big = |_: &str| Some("A".repeat(1000));
    let once =
        "<r xmlns:x=\"http://www.w3.org/2004/08/xop/include\"><x:Include href=\"cid:a\"/></r>";
    assert_eq!(
        super::parse_within(once.as_bytes(), 100, Limits::default(), &big).err(),
        Some(XmlError::IncludeBudget)
    );
    assert!(super::parse_within(once.as_bytes(), 600, Limits::default(), &big).is_ok());
}

#[test]
fn the_tree_costs_at_most_its_bound() {
    // 99,000 empty elements in 600 KB would cost ~32 MB of tree: over 16 × 600 KB + 64 KiB.
    let wide = format!("<a>{}</a>", "<w/>".repeat(99_000));
    assert_eq!(parse_str(&wide), Err(XmlError::TooLarge));
    // Attributes and text count too.
    let attrs = format!("<a>{}</a>", "<w a=\"\" b=\"\" c=\"\"/>".repeat(30_000));
    assert_eq!(parse_str(&attrs), Err(XmlError::TooLarge));
    // Under the slack, or a few elements per hundred bytes as real messages have, is fine.
    assert!(parse_str(&format!("<a>{}</a>", "<w/>".repeat(200))).is_ok());
    let real = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/local/examples/iti55.xml"
    ))
    .unwrap();
    assert!(parse(&real, Limits::default(), &no_xop).is_ok());
    let big = format!(
        "<a>{}</a>",
        "<livingSubjectId><value root=\"2.16.840.1.113883.2.1.4.1\" extension=\"1234567890\"/></livingSubjectId>"
            .repeat(5_000)
    );
    assert!(parse_str(&big).is_ok());
}

#[test]
fn characters_xml_does_not_allow_are_refused() {
    for bad in [
        "<a>x\u{0}y</a>",
        "<a>\u{1}</a>",
        "<a>\u{FFFE}</a>",
        "<a>\u{FFFF}</a>",
        "<a>&#x1;</a>",
        "<a>&#xFFFE;</a>",
        "<a k=\"&#x0B;\"/>",
        "<a k=\"\u{1F}\"/>",
        "<a><![CDATA[\u{7}]]></a>",
        "<a><!--\u{2}--></a>",
        "<a>x]]>y</a>",
    ] {
        assert_eq!(parse_str(bad), Err(XmlError::Malformed), "{bad:?}");
    }
    // Tab, LF, CR and everything from U+0020 up (bar U+FFFE/U+FFFF) are characters.
    let ok =
        parse_str("<a k=\"&#9;&#xA;&#xD;\">\t\n\r é \u{10000} &#xFFFD; ]]&gt; ]]</a>").unwrap();
    assert!(ok.text.contains('\u{10000}'));
}
