#!/usr/bin/env python3
"""Splits a `perf record --call-graph dwarf` profile of the saml_verify bench into the phases of
one SAML check, for docs/performance.md ("SAML verification cost").

    BIN=$(ls -t target/release/deps/saml_verify-* | grep -v '\\.d$' | head -1)
    perf record -F 1000 --call-graph dwarf,32768 -o /tmp/saml.data \\
        $BIN --bench --profile-time 5 'sha1-epic\\+hok'
    perf script -i /tmp/saml.data --no-inline -F ip,sym > /tmp/saml.txt
    python3 gateway/benches/saml_phases.py /tmp/saml.txt 570   # the bench's mean, in µs

Each sample inside `SamlVerifier::verify_assertion` goes to the first phase whose function is on
its stack; the share of samples times the mean gives µs per check.
"""

import collections
import sys


def stacks(path):
    cur = []
    with open(path, errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line:
                if cur:
                    yield cur
                cur = []
                continue
            parts = line.split(None, 1)
            cur.append((parts[1] if len(parts) > 1 else parts[0]).split("+0x")[0])
    if cur:
        yield cur


def phase(stack):
    def on(*names):
        return any(n in f for f in stack for n in names)

    if not on("verify_assertion"):
        return None
    if on("scan::scan"):
        return "1 pre-pass (quick-xml)"
    if on("SignedDocument::parse", "parse_string_with_options", "xmlReadMemory"):
        return "2 libxml2 parse"
    if on("register_ids", "specify_idattr"):
        return "5 register IDs"
    if on("tree::copy"):
        return "4 header copied out of libxml2"
    if on("SignedDocument::security", "xpath::Context"):
        return "3 XPath: assertions, header, body"
    for marker, who in (("check_signature", "6 assertion signature"),
                        ("check_holder_of_key", "7 holder-of-key signature")):
        if not on(marker):
            continue
        if on("XmlSecKey::from_memory"):
            return who + ": key load"
        if on("EVP_VerifyFinal", "RSA_verify"):
            return who + ": RSA"
        if on("xmlC14NExecute", "xmlSecTransformCtxExecute", "xmlSecTransformCtxXmlExecute"):
            return who + ": c14n + digest"
        if on("xmlSecDSigCtxVerify"):
            return who + ": libxmlsec1 other"
        if on("xmlSecDSigCtxDestroy", "XmlSecSignatureContext"):
            return who + ": context"
        return who + ": shape checks"
    if on("drop_slow", "xmlFreeDoc", "drop_in_place<xhuma_gateway::soap::saml::dsig"):
        return "8 freeing the tree and the copy"
    return "9 claims, XSPA, other"


def main():
    path, mean = sys.argv[1], float(sys.argv[2])
    counts = collections.Counter(p for s in stacks(path) if (p := phase(s)))
    total = sum(counts.values())
    for name in sorted(counts):
        share = counts[name] / total
        print(f"{name:48s} {100 * share:5.1f}%  {mean * share:6.0f} µs")


if __name__ == "__main__":
    main()
