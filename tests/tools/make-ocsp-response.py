#!/usr/bin/env python3
"""Writes a DER OCSP response for a certificate, signed by its issuer, for plby's TLS tests.

Usage: make-ocsp-response.py CERT ISSUER ISSUER_KEY OUT [--status good|revoked|unknown]
                             [--this-update-hours H] [--next-update-hours H]

The update times are hours from now (negative: in the past), so an expired response is one
with --this-update-hours -48 --next-update-hours -24. Uses python3-cryptography, as `openssl
ocsp` cannot make a response with times of our choosing.
"""
import argparse
import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp


def main():
    parser = argparse.ArgumentParser()
    for name in ("cert", "issuer", "issuer_key", "out"):
        parser.add_argument(name)
    parser.add_argument("--status", choices=("good", "revoked", "unknown"), default="good")
    parser.add_argument("--this-update-hours", type=float, default=-1)
    parser.add_argument("--next-update-hours", type=float, default=24)
    args = parser.parse_args()
    with open(args.cert, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    with open(args.issuer, "rb") as f:
        issuer = x509.load_pem_x509_certificate(f.read())
    with open(args.issuer_key, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    now = datetime.datetime.utcnow()
    status = {"good": ocsp.OCSPCertStatus.GOOD, "revoked": ocsp.OCSPCertStatus.REVOKED,
              "unknown": ocsp.OCSPCertStatus.UNKNOWN}[args.status]
    builder = ocsp.OCSPResponseBuilder().add_response(
        cert=cert, issuer=issuer, algorithm=hashes.SHA1(), cert_status=status,
        this_update=now + datetime.timedelta(hours=args.this_update_hours),
        next_update=now + datetime.timedelta(hours=args.next_update_hours),
        revocation_time=now - datetime.timedelta(hours=2) if args.status == "revoked" else None,
        revocation_reason=x509.ReasonFlags.key_compromise if args.status == "revoked" else None,
    ).responder_id(ocsp.OCSPResponderEncoding.HASH, issuer)
    response = builder.sign(key, hashes.SHA256())
    with open(args.out, "wb") as f:
        f.write(response.public_bytes(serialization.Encoding.DER))


if __name__ == "__main__":
    main()
