use super::*;

fn parse(s: &str) -> Result<Envelope, EnvelopeError> {
    Envelope::parse(Bytes::from(s.to_string()), Limits::default(), &|_| None)
}

const SEC: &str = r#"<wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><x/></wsse:Security>"#;

#[test]
fn any_prefix_and_security_range() {
    let xml = format!(
        r#"<E:Envelope xmlns:E="{SOAP12_NS}" xmlns:w="{WSA_NS}">
  <E:Header>
    <w:Action E:mustUnderstand="true">urn:a</w:Action>
    {SEC}
  </E:Header>
  <E:Body><p xmlns="urn:p"/></E:Body>
</E:Envelope>"#
    );
    let env = parse(&xml).unwrap();
    assert_eq!(env.addressing.action.as_deref(), Some("urn:a"));
    assert!(env.payload.is("urn:p", "p"));
    assert_eq!(env.security_bytes(), Some(SEC.as_bytes()));
}

#[test]
fn shape_errors() {
    let soap11 = format!(r#"<s:Envelope xmlns:s="{SOAP11_NS}"><s:Body><p/></s:Body></s:Envelope>"#);
    assert_eq!(parse(&soap11).err(), Some(EnvelopeError::Soap11));
    assert_eq!(parse("<p/>").err(), Some(EnvelopeError::NotAnEnvelope));
    let two =
        format!(r#"<s:Envelope xmlns:s="{SOAP12_NS}"><s:Body><p/><q/></s:Body></s:Envelope>"#);
    assert_eq!(parse(&two).err(), Some(EnvelopeError::BodyShape));
    let empty = format!(r#"<s:Envelope xmlns:s="{SOAP12_NS}"><s:Body/></s:Envelope>"#);
    assert_eq!(parse(&empty).err(), Some(EnvelopeError::BodyShape));
    let mu = format!(
        r#"<s:Envelope xmlns:s="{SOAP12_NS}"><s:Header><x:H xmlns:x="urn:x" s:mustUnderstand="1"/></s:Header><s:Body><p/></s:Body></s:Envelope>"#
    );
    assert!(matches!(
        parse(&mu).err(),
        Some(EnvelopeError::MustUnderstand { .. })
    ));
}
