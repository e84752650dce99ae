#!/usr/bin/env bash
# Test-only keys and certificates for the SAML verifier tests. NEVER use them anywhere else.
# Regenerate (then run make-fixtures.py, since every signature changes):
#   bash gateway/tests/data/saml/gen-keys.sh
set -euo pipefail
cd "$(dirname "$0")"
mk() { # name, subject
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 36500 \
    -keyout "$1.key" -out "$1.crt" -subj "$2" \
    -addext basicConstraints=critical,CA:FALSE \
    -addext keyUsage=critical,digitalSignature 2>/dev/null
}
mk idp       "/C=GB/O=Xhuma Test/CN=test-idp.epic.invalid"
mk idp2      "/C=GB/O=Xhuma Test/CN=second-idp.invalid"
mk untrusted "/C=GB/O=Xhuma Test/CN=attacker.invalid"
mk hok       "/C=GB/O=Xhuma Test/CN=requesting-gateway.invalid"
mk wronghok  "/C=GB/O=Xhuma Test/CN=not-the-holder.invalid"
# An already-expired certificate (validity 2000-2001) for the trust-store date check; OpenSSL 3.0's
# `req` cannot back-date, so Python `cryptography` (a dependency of signxml) makes it.
python3 - <<'PY'
import datetime
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "GB"),
                  x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Xhuma Test"),
                  x509.NameAttribute(NameOID.COMMON_NAME, "expired-idp.invalid")])
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc))
        .not_valid_after(datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256()))
open("expired.key", "wb").write(key.private_bytes(serialization.Encoding.PEM,
     serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
open("expired.crt", "wb").write(cert.public_bytes(serialization.Encoding.PEM))
PY
