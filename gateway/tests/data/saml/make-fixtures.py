#!/usr/bin/env python3
"""Builds the signed SOAP envelopes the SAML verifier tests read (gateway/tests/saml_*.rs).

The signer is Python `signxml` (lxml + cryptography), deliberately NOT libxmlsec1, so our
verifier is checked against an independent XML-DSig implementation. Every fixture is made for
the fixed instant NOW below; the tests pass that instant as `now`.

Regenerate (after `pip install signxml==5.2.0`):
    python3 gateway/tests/data/saml/make-fixtures.py
Options (used by tests/saml_live_signer.rs): `--out DIR` (default: fixtures/ beside this file)
and `--now 2027-06-01T12:00:00Z` (the instant to sign for).
RSA PKCS#1 v1.5 signatures are deterministic, so regenerating with the same keys gives the
same bytes.
"""
import argparse
import base64
import datetime as dt
import os
import re

from lxml import etree
from signxml import XMLSigner, methods

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures")
NOW = dt.datetime(2027, 6, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
AUDIENCE = "https://xhuma.test/SOAP/iti38"
ISSUER = "CN=test-idp.epic.invalid, O=Xhuma Test, C=GB"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"


class LegacySigner(XMLSigner):
    """signxml refuses SHA-1 by default; Epic still signs with it, so the fixtures need it."""

    def check_deprecated_methods(self):
        pass


def read(name):
    with open(os.path.join(HERE, name), "rb") as f:
        return f.read()


def ts(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def rsa_key_value(cert_pem):
    from cryptography import x509

    pub = x509.load_pem_x509_certificate(cert_pem).public_key().public_numbers()
    b64 = lambda n: base64.b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).decode()
    return b64(pub.n), b64(pub.e)


def cert_b64(cert_pem):
    body = re.sub(rb"-----[A-Z ]+-----|\s", b"", cert_pem)
    return body.decode()


def assertion_xml(aid, *, issuer=ISSUER, not_before=None, not_on_or_after=None,
                  scd_not_on_or_after=None, audience=AUDIENCE, subject="CONE, Stephen",
                  hok_cert="hok.crt", placeholder=True, hok_x509=True):
    not_before = not_before or NOW - dt.timedelta(minutes=1)
    not_on_or_after = not_on_or_after or NOW + dt.timedelta(minutes=5)
    hok = read(hok_cert)
    mod, exp = rsa_key_value(hok)
    scd_attr = f' NotOnOrAfter="{ts(scd_not_on_or_after)}"' if scd_not_on_or_after else ""
    sig = '<ds:Signature Id="placeholder"/>' if placeholder else ""
    x509 = (f"<ds:X509Data><ds:X509Certificate>{cert_b64(hok)}</ds:X509Certificate></ds:X509Data>"
            if hok_x509 else "")
    return f"""<saml2:Assertion xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="{aid}" IssueInstant="{ts(NOW - dt.timedelta(seconds=30))}" Version="2.0">
        <saml2:Issuer Format="urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName">{issuer}</saml2:Issuer>{sig}
        <saml2:Subject>
          <saml2:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName">CN=requesting-gateway.invalid</saml2:NameID>
          <saml2:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:holder-of-key">
            <saml2:SubjectConfirmationData{scd_attr}>
              <ds:KeyInfo>
                <ds:KeyValue><ds:RSAKeyValue><ds:Modulus>{mod}</ds:Modulus><ds:Exponent>{exp}</ds:Exponent></ds:RSAKeyValue></ds:KeyValue>
                {x509}
              </ds:KeyInfo>
            </saml2:SubjectConfirmationData>
          </saml2:SubjectConfirmation>
        </saml2:Subject>
        <saml2:Conditions NotBefore="{ts(not_before)}" NotOnOrAfter="{ts(not_on_or_after)}">
          <saml2:AudienceRestriction><saml2:Audience>{audience}</saml2:Audience></saml2:AudienceRestriction>
        </saml2:Conditions>
        <saml2:AuthnStatement AuthnInstant="{ts(NOW - dt.timedelta(minutes=10))}">
          <saml2:AuthnContext><saml2:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:X509</saml2:AuthnContextClassRef></saml2:AuthnContext>
        </saml2:AuthnStatement>
        <saml2:AttributeStatement>
          <saml2:Attribute Name="urn:oasis:names:tc:xspa:1.0:subject:subject-id"><saml2:AttributeValue xsi:type="xs:string">{subject}</saml2:AttributeValue></saml2:Attribute>
          <saml2:Attribute Name="urn:oasis:names:tc:xspa:1.0:subject:organization"><saml2:AttributeValue xsi:type="xs:string">UCLH - University College London Hospitals - TST</saml2:AttributeValue></saml2:Attribute>
          <saml2:Attribute Name="urn:oasis:names:tc:xspa:1.0:subject:organization-id"><saml2:AttributeValue xsi:type="xs:string">urn:oid:1.2.840.114350.1.13.525.3.7.3.688884.100</saml2:AttributeValue></saml2:Attribute>
          <saml2:Attribute Name="urn:nhin:names:saml:homeCommunityId"><saml2:AttributeValue xsi:type="xs:string">urn:oid:1.2.840.114350.1.13.525.3.7.3.688884.100</saml2:AttributeValue></saml2:Attribute>
          <saml2:Attribute Name="urn:oasis:names:tc:xacml:2.0:subject:role"><saml2:AttributeValue><Role xmlns="urn:hl7-org:v3" xsi:type="CE" code="224608005" codeSystem="2.16.840.1.113883.6.96" codeSystemName="SNOMED_CT" displayName="Administrative healthcare staff"/></saml2:AttributeValue></saml2:Attribute>
          <saml2:Attribute Name="urn:oasis:names:tc:xspa:1.0:subject:purposeofuse"><saml2:AttributeValue><PurposeForUse xmlns="urn:hl7-org:v3" xsi:type="CE" code="TREATMENT" codeSystem="2.16.840.1.113883.3.18.7.1" codeSystemName="nhin-purpose" displayName="Treatment"/></saml2:AttributeValue></saml2:Attribute>
          <saml2:Attribute Name="urn:oasis:names:tc:xacml:2.0:resource:resource-id"><saml2:AttributeValue xsi:type="xs:string">9690937278^^^&amp;2.16.840.1.113883.2.1.4.1&amp;ISO</saml2:AttributeValue></saml2:Attribute>
        </saml2:AttributeStatement>
      </saml2:Assertion>"""


def sign_assertion(xml, aid, *, key="idp.key", cert="idp.crt", sha1=False, with_cert=True):
    alg, dig = ("rsa-sha1", "sha1") if sha1 else ("rsa-sha256", "sha256")
    signer = LegacySigner(method=methods.enveloped, signature_algorithm=alg,
                          digest_algorithm=dig, c14n_algorithm=EXC_C14N)
    root = etree.fromstring(xml.encode())
    signed = signer.sign(root, key=read(key), cert=read(cert).decode() if with_cert else None,
                         reference_uri=aid, id_attribute="ID")
    return etree.tostring(signed).decode()


def timestamp_xml(tsid, created, expires):
    return (f'<wsu:Timestamp xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd" wsu:Id="{tsid}">'
            f"<wsu:Created>{ts(created)}</wsu:Created><wsu:Expires>{ts(expires)}</wsu:Expires></wsu:Timestamp>")


def sign_timestamp(ts_xml, tsid, aid, *, key="hok.key", sha1=False):
    """A detached signature over the Timestamp, KeyInfo = STR pointing at the assertion (HoK)."""
    alg, dig = ("rsa-sha1", "sha1") if sha1 else ("rsa-sha256", "sha256")
    signer = LegacySigner(method=methods.detached, signature_algorithm=alg,
                          digest_algorithm=dig, c14n_algorithm=EXC_C14N)
    wsse = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
    ki = etree.fromstring(
        f'<ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><wsse:SecurityTokenReference xmlns:wsse="{wsse}" '
        f'xmlns:wsse11="http://docs.oasis-open.org/wss/oasis-wss-wssecurity-secext-1.1.xsd" '
        f'wsse11:TokenType="http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV2.0">'
        f'<wsse:KeyIdentifier ValueType="http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLID">{aid}</wsse:KeyIdentifier>'
        f"</wsse:SecurityTokenReference></ds:KeyInfo>")
    root = etree.fromstring(ts_xml.encode())
    sig = signer.sign(root, key=read(key), reference_uri=tsid, id_attribute="Id", key_info=ki)
    return etree.tostring(sig).decode()


def envelope(security_inner, *, body_extra=""):
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://www.w3.org/2005/08/addressing">
  <soap:Header>
    <wsa:Action soap:mustUnderstand="1">urn:ihe:iti:2007:CrossGatewayQuery</wsa:Action>
    <wsa:MessageID>urn:uuid:0357bea4-617b-4a95-b631-03373250e78b</wsa:MessageID>
    <wsa:ReplyTo><wsa:Address>http://www.w3.org/2005/08/addressing/anonymous</wsa:Address></wsa:ReplyTo>
    <wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" soap:mustUnderstand="1">
      {security_inner}
    </wsse:Security>
  </soap:Header>
  <soap:Body>{body_extra}
    <query:AdhocQueryRequest xmlns:query="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0" xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0">
      <query:ResponseOption returnType="LeafClass" returnComposedObjects="true"/>
      <rim:AdhocQuery id="urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d">
        <rim:Slot name="$XDSDocumentEntryPatientId"><rim:ValueList><rim:Value>'9690937278^^^&amp;2.16.840.1.113883.2.1.4.1&amp;ISO'</rim:Value></rim:ValueList></rim:Slot>
      </rim:AdhocQuery>
    </query:AdhocQueryRequest>
  </soap:Body>
</soap:Envelope>
"""


def full(aid="_a1", tsid="TS-1", *, sha1=False, ts_key="hok.key", ts_created=None,
         ts_expires=None, ts_signed=True, assertion=None, **akw):
    a = assertion or sign_assertion(assertion_xml(aid, **akw), aid, sha1=sha1)
    created = ts_created or NOW - dt.timedelta(seconds=20)
    expires = ts_expires or NOW + dt.timedelta(minutes=5)
    t = timestamp_xml(tsid, created, expires)
    parts = [a]
    if ts_signed:
        parts.append(sign_timestamp(t, tsid, aid, key=ts_key, sha1=sha1))
    parts.append(t)
    return envelope("\n      ".join(parts))


def write(name, text):
    with open(os.path.join(OUT, name), "w", encoding="utf-8") as f:
        f.write(text)


def main():
    global OUT, NOW
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--now", default=None)
    args = ap.parse_args()
    OUT = args.out
    if args.now:
        NOW = dt.datetime.fromisoformat(args.now.replace("Z", "+00:00"))
    os.makedirs(OUT, exist_ok=True)
    write("valid-sha256.xml", full())
    write("valid-sha1-epic.xml", full(sha1=True))
    # Signed without a certificate in KeyInfo, by the second trusted key, no HoK timestamp.
    aid = "_a2"
    a = sign_assertion(assertion_xml(aid), aid, key="idp2.key", cert="idp2.crt", with_cert=False)
    write("valid-idp2-no-keyinfo.xml", envelope(a))
    # Signed by a key nobody trusts (its own certificate in KeyInfo).
    a = sign_assertion(assertion_xml("_a3"), "_a3", key="untrusted.key", cert="untrusted.crt")
    write("untrusted-cert.xml", full(assertion=a, aid="_a3"))
    # An attribute changed after signing.
    write("tampered-attribute.xml", full().replace("CONE, Stephen", "ADMIN, Evil"))
    # Comment injected into a signed text value (exc-c14n drops comments, so the signature
    # still verifies): the reader must see the whole text, not the part before the comment.
    write("comment-in-subject.xml", full().replace("CONE, Stephen", "CONE, <!-- x -->Stephen"))
    # Wrapping 1: the genuine signed assertion is moved into an unsigned wrapper header and an
    # evil assertion with a different ID, carrying the genuine Signature, takes its place.
    good = sign_assertion(assertion_xml("_good"), "_good")
    sig = re.search(r"<ds:Signature[ >].*?</ds:Signature>", good, re.S).group(0)
    evil = assertion_xml("_evil", subject="ADMIN, Evil", placeholder=False)
    evil = evil.replace("</saml2:Issuer>", "</saml2:Issuer>" + sig, 1)
    wrapper = f'<x:Wrapper xmlns:x="urn:example:evil">{good}</x:Wrapper>'
    write("wrapping-moved.xml", envelope(evil + "\n      " + wrapper))
    # Wrapping 2: same, but the evil assertion reuses the genuine ID (duplicate IDs).
    evil_same = assertion_xml("_good", subject="ADMIN, Evil", placeholder=False)
    evil_same = evil_same.replace("</saml2:Issuer>", "</saml2:Issuer>" + sig, 1)
    write("wrapping-duplicate-id.xml", envelope(evil_same + "\n      " + wrapper))
    # Wrapping 3: the genuine assertion moved into the Body, evil unsigned one in the header.
    write("wrapping-into-body.xml",
          envelope(assertion_xml("_evil", subject="ADMIN, Evil", placeholder=False),
                   body_extra=f'<x:Wrapper xmlns:x="urn:example:evil">{good}</x:Wrapper>'))
    # Two signed assertions in one Security header.
    other = sign_assertion(assertion_xml("_other"), "_other")
    write("two-assertions.xml", envelope(good + "\n      " + other))
    # Validity windows.
    write("expired.xml", full(not_before=NOW - dt.timedelta(minutes=30),
                              not_on_or_after=NOW - dt.timedelta(minutes=10)))
    write("not-yet-valid.xml", full(not_before=NOW + dt.timedelta(minutes=10),
                                    not_on_or_after=NOW + dt.timedelta(minutes=20)))
    write("subject-confirmation-expired.xml",
          full(scd_not_on_or_after=NOW - dt.timedelta(minutes=10)))
    write("wrong-audience.xml", full(audience="https://someone-else.invalid/ws"))
    write("other-issuer.xml", full(issuer="CN=some-other-idp.invalid"))
    # Unsigned assertion (no Signature anywhere) and no assertion at all.
    write("unsigned.xml", envelope(assertion_xml("_u1", placeholder=False)))
    t = timestamp_xml("TS-9", NOW - dt.timedelta(seconds=20), NOW + dt.timedelta(minutes=5))
    write("missing-assertion.xml", envelope(t))
    # Holder-of-key proof over the Timestamp.
    write("hok-wrong-key.xml", full(ts_key="wronghok.key"))
    tampered = full()
    tampered = tampered.replace(f"<wsu:Expires>{ts(NOW + dt.timedelta(minutes=5))}</wsu:Expires>",
                                f"<wsu:Expires>{ts(NOW + dt.timedelta(days=5))}</wsu:Expires>")
    write("hok-tampered-timestamp.xml", tampered)
    write("hok-expired-timestamp.xml", full(ts_created=NOW - dt.timedelta(minutes=30),
                                            ts_expires=NOW - dt.timedelta(minutes=20)))
    write("hok-unsigned-timestamp.xml", full(ts_signed=False))
    # The holder's key given only as RSAKeyValue (no certificate), RSA-SHA1 as Epic signs.
    write("hok-keyvalue-only.xml", full(sha1=True, hok_x509=False))


if __name__ == "__main__":
    main()
