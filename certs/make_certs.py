#!/usr/bin/env python3
"""Make the test CA, server and client certificates that certprop's tests use.

Run it with the project's virtualenv (`make certs`); it rewrites every file in
the folder it lives in. Keys and serial numbers are new on each run; names,
extensions and validity periods are fixed, so tests may depend on them but not
on fingerprints or serials (read those from the files instead).

All keys are EC P-256 and all signatures ECDSA with SHA-256. Every certificate
is valid from 2025-01-01 to 2125-01-01 (UTC) unless its name says otherwise, so
no test depends on today's date. certs/README.md lists the files.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import random
import urllib.parse
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

OUT = Path(__file__).resolve().parent

UTC = datetime.timezone.utc
NOT_BEFORE = datetime.datetime(2025, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime.datetime(2125, 1, 1, tzinfo=UTC)

ACME = "Acme, Inc."


def attr(oid, value, asn1_type=None):
    """One name attribute; asn1_type picks the ASN.1 string type."""
    if asn1_type is None:
        return x509.NameAttribute(oid, value)
    return x509.NameAttribute(oid, value, _type=asn1_type)


def name(*attrs):
    """A Name with one attribute per RDN, in certificate order."""
    return x509.Name(list(attrs))


def new_key():
    return ec.generate_private_key(ec.SECP256R1())


def write_key(stem, key):
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (OUT / f"{stem}.key").write_bytes(pem)


def write_cert(stem, cert):
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (OUT / f"{stem}.pem").write_bytes(pem)
    return pem


def issue(
    subject,
    key,
    issuer_name,
    issuer_key,
    *,
    is_ca=False,
    eku=None,
    san=None,
    san_critical=False,
    not_before=NOT_BEFORE,
    not_after=NOT_AFTER,
):
    """Build and sign one certificate."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.BasicConstraints(ca=is_ca, path_length=None), critical=True
        )
        .add_extension(
            x509.KeyUsage(
                digital_signature=not is_ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=is_ca,
                crl_sign=is_ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer_key.public_key()
            ),
            critical=False,
        )
    )
    if eku is not None:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage(eku), critical=False
        )
    if san is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(san), critical=san_critical
        )
    return builder.sign(issuer_key, hashes.SHA256())


def main():
    ca_key = new_key()
    ca_name = name(
        attr(NameOID.ORGANIZATION_NAME, "certprop"),
        attr(NameOID.COMMON_NAME, "certprop Test CA"),
    )
    ca = issue(ca_name, ca_key, ca_name, ca_key, is_ca=True)
    write_key("ca", ca_key)
    ca_pem = write_cert("ca", ca)

    def leaf(stem, subject, **kwargs):
        key = new_key()
        cert = issue(subject, key, ca_name, ca_key, **kwargs)
        write_key(stem, key)
        return cert, write_cert(stem, cert)

    client_auth = [ExtendedKeyUsageOID.CLIENT_AUTH]

    def acme(ou, cn):
        return name(
            attr(NameOID.COUNTRY_NAME, "US"),
            attr(NameOID.ORGANIZATION_NAME, ACME),
            attr(NameOID.ORGANIZATIONAL_UNIT_NAME, ou),
            attr(NameOID.COMMON_NAME, cn),
        )

    client_san = [
        x509.DNSName("client-a.example.org"),
        x509.RFC822Name("client-a@example.org"),
        x509.IPAddress(ipaddress.ip_address("10.1.2.3")),
        x509.IPAddress(ipaddress.ip_address("2001:db8::1")),
    ]

    leaf(
        "server",
        name(attr(NameOID.COMMON_NAME, "localhost")),
        eku=[ExtendedKeyUsageOID.SERVER_AUTH],
        san=[
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ],
    )

    client, client_pem = leaf(
        "client", acme("Payments", "client-a"), eku=client_auth, san=client_san
    )

    leaf(
        "client-b",
        acme("Billing", "client-b"),
        eku=client_auth,
        san=[x509.DNSName("client-b.example.org")],
    )

    # SPIFFE X.509-SVID: empty subject, exactly one URI SAN, SAN critical.
    leaf(
        "spiffe",
        x509.Name([]),
        eku=client_auth,
        san=[
            x509.UniformResourceIdentifier(
                "spiffe://example.org/ns/default/sa/client"
            )
        ],
        san_critical=True,
    )

    leaf(
        "expired",
        acme("Payments", "expired-client"),
        eku=client_auth,
        san=client_san,
        not_before=datetime.datetime(2020, 1, 1, tzinfo=UTC),
        not_after=datetime.datetime(2021, 1, 1, tzinfo=UTC),
    )

    leaf(
        "not-yet-valid",
        acme("Payments", "future-client"),
        eku=client_auth,
        san=client_san,
        not_before=datetime.datetime(2120, 1, 1, tzinfo=UTC),
        not_after=datetime.datetime(2125, 1, 1, tzinfo=UTC),
    )

    leaf("no-eku", acme("Payments", "no-eku-client"), eku=None)

    # Values that would split or forge a header, or break naive DN parsing.
    leaf(
        "hostile-crlf",
        name(
            attr(NameOID.COUNTRY_NAME, "US"),
            attr(NameOID.ORGANIZATION_NAME, 'x,y+z"<>;\\#'),
            attr(NameOID.ORGANIZATIONAL_UNIT_NAME, "a\x00b\tc"),
            attr(NameOID.LOCALITY_NAME, "#leading-hash"),
            attr(NameOID.STATE_OR_PROVINCE_NAME, " spaced "),
            attr(NameOID.COMMON_NAME, "evil\r\nX-Injected: yes"),
        ),
        eku=client_auth,
    )

    # Non-ASCII text in each ASN.1 string type that certificates use.
    # (T61String holding Latin-1 bytes is a hostile case of its own; here
    # it holds ASCII only.)
    leaf(
        "unicode",
        name(
            attr(NameOID.COUNTRY_NAME, "JP"),
            attr(
                NameOID.STATE_OR_PROVINCE_NAME,
                "Tokyo",
                _ASN1Type.PrintableString,
            ),
            attr(NameOID.LOCALITY_NAME, "Chiyoda", _ASN1Type.T61String),
            attr(
                NameOID.ORGANIZATION_NAME,
                "Ωmega Straße Žluť",
                _ASN1Type.BMPString,
            ),
            attr(
                NameOID.ORGANIZATIONAL_UNIT_NAME,
                "Ünïversal 🔒 𝄞",
                _ASN1Type.UniversalString,
            ),
            attr(
                NameOID.COMMON_NAME,
                "Zoë Ünïcødé 日本 🔒",
                _ASN1Type.UTF8String,
            ),
        ),
        eku=client_auth,
    )

    # A multi-valued RDN: CN=multi+UID=u123,O=Acme
    leaf(
        "multi-rdn",
        x509.Name(
            [
                x509.RelativeDistinguishedName(
                    [attr(NameOID.ORGANIZATION_NAME, "Acme")]
                ),
                x509.RelativeDistinguishedName(
                    [
                        attr(NameOID.COMMON_NAME, "multi"),
                        attr(NameOID.USER_ID, "u123"),
                    ]
                ),
            ]
        ),
        eku=client_auth,
    )

    # About 7 KB of subject: base64 of its RFC 4514 string exceeds 8192 bytes.
    units = [
        attr(
            NameOID.ORGANIZATIONAL_UNIT_NAME,
            f"unit-{i:02d}-" + "x" * 102,
        )
        for i in range(60)
    ]
    leaf(
        "huge-subject",
        name(*units, attr(NameOID.COMMON_NAME, "huge")),
        eku=client_auth,
    )

    # A chain (leaf first) with text before the first PEM block, as some
    # tools write it.
    junk = (
        b"Bag Attributes\n"
        b"    friendlyName: client-a\n"
        b"subject=C=US, O=Acme, Inc., OU=Payments, CN=client-a\n"
    )
    (OUT / "chain.pem").write_bytes(junk + client_pem + ca_pem)

    # The client certificate as DER, and as Envoy puts it in XFCC Cert="...".
    (OUT / "client.der").write_bytes(
        client.public_bytes(serialization.Encoding.DER)
    )
    (OUT / "client.urlenc").write_text(
        urllib.parse.quote(client_pem.decode("ascii"), safe="")
    )

    # A CERTIFICATE block whose content is not a certificate.
    noise = random.Random(4514).randbytes(300)
    body = base64.encodebytes(noise).decode("ascii").replace("\n", "")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    (OUT / "garbage.pem").write_text(
        "-----BEGIN CERTIFICATE-----\n"
        + "\n".join(lines)
        + "\n-----END CERTIFICATE-----\n"
    )


if __name__ == "__main__":
    main()
