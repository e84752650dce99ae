#!/usr/bin/env python3
"""Splits a `perf record --call-graph dwarf` profile of the saml_verify bench into the phases of
one SAML check, for docs/performance.md ("SAML verification cost").

    BIN=$(ls -t target/release/deps/saml_verify-* | grep -v '\\.d$' | head -1)
    perf record -F 1000 --call-graph dwarf,32768 -o /tmp/saml.data \\
        $BIN --bench --profile-time 5 'sha1-epic\\+hok'
    perf script -i /tmp/saml.data --no-inline -F ip,sym > /tmp/saml.txt
    python3 gateway/benches/saml_phases.py /tmp/saml.txt 87    # the bench's mean, in µs

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
        return "1 pre-pass (quick-xml, whole envelope)"
    if on("SignedDocument::parse", "tree::Element::parse"):
        return "2 header tree"
    for marker, who in (("check_signature", "4 assertion signature"),
                        ("check_holder_of_key", "5 holder-of-key signature")):
        if not on(marker):
            continue
        if on("rsa_verify_raw", "BN_mod_exp_mont"):
            return who + ": RSA"
        if on("from_cert", "parse_rsa_public_key", "EVP_parse_public_key", "BN_MONT_CTX"):
            return who + ": key parse"
        if on("c14n::"):
            return who + ": c14n"
        if on("SHA1_", "sha1_block", "SHA256", "sha256_block", "SHA512", "sha512_block"):
            return who + ": digest"
        if on("assertion::signature"):
            return who + ": typed view of the signature"
        return who + ": other (base64, scopes)"
    if on("assertion::assertion", "security_parts"):
        return "3 typed view of the assertion"
    if on("drop_in_place"):
        return "6 freeing the tree"
    return "7 claims, XSPA, other"


def main():
    path, mean = sys.argv[1], float(sys.argv[2])
    counts = collections.Counter(p for s in stacks(path) if (p := phase(s)))
    total = sum(counts.values())
    for name in sorted(counts):
        share = counts[name] / total
        print(f"{name:48s} {100 * share:5.1f}%  {mean * share:6.0f} µs")


if __name__ == "__main__":
    main()
