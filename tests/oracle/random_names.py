"""Random certificate subjects from a hostile alphabet, for the property tests.

Values mix the RFC 4514 special characters, spaces at either end, C0 and C1 control characters,
DEL, and non-ASCII text including characters outside the BMP; a leading `#` and empty values occur
too. Attribute types are keyword and non-keyword OIDs (including OIDs under 2.x with x >= 40 and
2.25 UUID OIDs, whose arcs do not fit in 64 bits), some RDNs are multi-valued, and values come in
UTF8String, UniversalString and BMPString. About a third of the subjects are "tame" (keyword
types, no control characters but NUL), so that pyca's own string is comparable byte for byte.
"""

from __future__ import annotations

import datetime
import random

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID, ObjectIdentifier

KEYWORD_TYPES = [
    NameOID.COMMON_NAME,
    NameOID.LOCALITY_NAME,
    NameOID.STATE_OR_PROVINCE_NAME,
    NameOID.ORGANIZATION_NAME,
    NameOID.ORGANIZATIONAL_UNIT_NAME,
    NameOID.COUNTRY_NAME,
    NameOID.STREET_ADDRESS,
    NameOID.DOMAIN_COMPONENT,
    NameOID.USER_ID,
]
OTHER_TYPES = [
    NameOID.SERIAL_NUMBER,
    NameOID.GIVEN_NAME,
    NameOID.SURNAME,
    NameOID.TITLE,
    NameOID.EMAIL_ADDRESS,
    NameOID.ORGANIZATION_IDENTIFIER,
    ObjectIdentifier("1.3.6.1.4.1.55555.7.1"),
    ObjectIdentifier("2.999.1"),
    ObjectIdentifier("2.25.329800735698586629295641978511506172918"),
]

SPECIALS = '\\"+,;<>#= '
C0 = [chr(c) for c in range(0x00, 0x20)]
C1 = [chr(c) for c in range(0x80, 0xA0)]
DEL = "\x7f"
BMP_TEXT = "éßÆŽΩжא日本語\u2028\ufeff\uffef"
ASTRAL = ["🔒", "𝄞", "\U0001f600", "\U0010fffd"]
ASCII = "abcXYZ019-._:/@"

NOT_BEFORE = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
NOT_AFTER = datetime.datetime(2125, 1, 1, tzinfo=datetime.timezone.utc)


def random_char(rng: random.Random, tame: bool) -> str:
    pick = rng.random()
    if tame and 0.50 <= pick < 0.77:
        # No control characters other than NUL: pyca's own string is then comparable.
        return "\0" if pick < 0.52 else rng.choice(ASCII)
    if pick < 0.30:
        return rng.choice(ASCII)
    if pick < 0.50:
        return rng.choice(SPECIALS)
    if pick < 0.65:
        return rng.choice(C0 + ["\r", "\n", "\0", "\t"])
    if pick < 0.70:
        return DEL
    if pick < 0.77:
        return rng.choice(C1)
    if pick < 0.90:
        return rng.choice(BMP_TEXT)
    return rng.choice(ASTRAL)


def random_value(rng: random.Random, tame: bool) -> str:
    pick = rng.random()
    if pick < 0.03:
        return ""
    if pick < 0.06:
        # One character that is special only at the start or the end of a value.
        return rng.choice(["#", " ", "="])
    value = "".join(random_char(rng, tame) for _ in range(rng.randint(1, 12)))
    if rng.random() < 0.2:
        value = " " + value
    if rng.random() < 0.2:
        value = value + " "
    if rng.random() < 0.1:
        value = "#" + value
    return value


def random_attribute(rng: random.Random, tame: bool) -> x509.NameAttribute:
    oid = rng.choice(KEYWORD_TYPES if tame or rng.random() < 0.7 else OTHER_TYPES)
    value = random_value(rng, tame)
    # UTF8String carries any value; some go in UniversalString (any code point) or BMPString
    # (only without characters outside the BMP) to exercise those decoders too.
    kind = rng.random()
    if kind < 0.15:
        string_type = _ASN1Type.UniversalString
    elif kind < 0.3 and all(ord(ch) < 0x10000 for ch in value):
        string_type = _ASN1Type.BMPString
    else:
        string_type = _ASN1Type.UTF8String
    # _validate=False: random values break pyca's length rules for CN and C; a certificate may.
    return x509.NameAttribute(oid, value, _type=string_type, _validate=False)


def random_name(rng: random.Random) -> x509.Name:
    """A random subject; about a third are "tame" (keyword types, no control characters but NUL)."""
    tame = rng.random() < 0.35
    rdns = []
    for _ in range(rng.randint(0, 5)):
        attrs: list[x509.NameAttribute] = []
        for _ in range(3 if rng.random() < 0.1 else 2 if rng.random() < 0.2 else 1):
            attr = random_attribute(rng, tame)
            if attr not in attrs:
                attrs.append(attr)
        rdns.append(x509.RelativeDistinguishedName(attrs))
    return x509.Name(rdns)


def make_certificate(key, subject: x509.Name) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .sign(key, hashes.SHA256())
    )


def write_random_certificates(folder, seed: int, count: int):
    """Make `count` self-signed certificates with random subjects in `folder`.

    Returns (path of the PEM file, pyca's reading of it) pairs: pyca's reading of the certificate
    it wrote, not the Name it was given, is the oracle.
    """
    rng = random.Random(seed)
    key = ec.generate_private_key(ec.SECP256R1())
    made = []
    for i in range(count):
        cert = make_certificate(key, random_name(rng))
        path = folder / f"random-{i:03d}.pem"
        path.write_bytes(cert.public_bytes(Encoding.PEM))
        made.append((path, x509.load_pem_x509_certificate(path.read_bytes())))
    return made
