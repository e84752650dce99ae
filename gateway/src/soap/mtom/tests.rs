use super::*;

const CT: &str = r#"multipart/related; boundary=MIMEBoundary_abc; type="application/xop+xml"; start="<0.root@example>"; start-info="application/soap+xml""#;

#[test]
fn params_by_hand() {
    assert_eq!(param(CT, "boundary").as_deref(), Some("MIMEBoundary_abc"));
    assert_eq!(param(CT, "start").as_deref(), Some("<0.root@example>"));
    assert_eq!(
        param(CT, "START-INFO").as_deref(),
        Some("application/soap+xml")
    );
    assert_eq!(param("multipart/related", "boundary"), None);
    assert!(is_multipart(CT));
}

#[test]
fn unpacks_lf_and_crlf_with_start_and_xop() {
    for nl in ["\n", "\r\n"] {
        let body = [
            "preamble",
            "--MIMEBoundary_abc",
            "Content-Type: application/octet-stream",
            "Content-ID: <att1@x>",
            "",
            "ABC",
            "--MIMEBoundary_abc",
            "Content-Type: application/xop+xml; type=\"application/soap+xml\"",
            "Content-ID: <0.root@example>",
            "",
            "<e/>",
            "--MIMEBoundary_abc--",
            "",
        ]
        .join(nl);
        let m = unpack(CT, &Bytes::from(body)).unwrap();
        assert_eq!(m.root.as_ref(), b"<e/>");
        assert_eq!(m.resolve("cid:att1%40x").as_deref(), Some("QUJD"));
        assert_eq!(m.resolve("cid:missing"), None);
    }
}

#[test]
fn hostile_multipart_is_typed_error() {
    let cases: &[(&str, &str, MtomError)] = &[
        (
            "multipart/related",
            "--x\n\n<e/>\n--x--",
            MtomError::NoBoundary,
        ),
        (
            "multipart/related; boundary=x",
            "no delimiter",
            MtomError::Malformed,
        ),
        (
            "multipart/related; boundary=x",
            "--x\nContent-Type: text/plain\n\n<e/>\n--x--",
            MtomError::RootType,
        ),
        (
            "multipart/related; boundary=x",
            "--x\nContent-Type: application/xop+xml\n\n<e/>",
            MtomError::Malformed,
        ),
        (
            "multipart/related; boundary=x",
            "--x\nContent-Type: application/xop+xml\nContent-Transfer-Encoding: quoted-printable\n\n<e/>\n--x--",
            MtomError::Encoding,
        ),
        (
            "multipart/related; boundary=x",
            "--x--",
            MtomError::Malformed,
        ),
    ];
    for (ct, body, want) in cases {
        assert_eq!(
            unpack(ct, &Bytes::from(body.to_string())).err().as_ref(),
            Some(want),
            "{body}"
        );
    }
    let many = "--x\nContent-Type: application/xop+xml\n\n<e/>\n".repeat(MAX_PARTS + 1) + "--x--";
    assert_eq!(
        unpack("multipart/related; boundary=x", &Bytes::from(many)).err(),
        Some(MtomError::TooManyParts)
    );
}

#[test]
fn package_round_trips() {
    let att = Attachment {
        content_id: "doc0@xhuma".into(),
        content_type: "text/xml".into(),
        data: Bytes::from_static(b"<ClinicalDocument/>"),
    };
    let (ct, body) = package(Payload::from("<env/>".to_string()), &[att]);
    let m = unpack(&ct, &body.to_bytes()).unwrap();
    assert_eq!(m.root.as_ref(), b"<env/>");
    assert_eq!(m.parts["doc0@xhuma"].as_ref(), b"<ClinicalDocument/>");
}
