#!/usr/bin/env python3
"""Make the hostile-input suite: certificates and inputs meant to break an identity edge, and
the manifest that says what each layer must do with each of them.

Run it with the project's virtualenv after make_certs.py (`make certs` runs both); it rewrites
certs/hostile/. Every certificate here is built as DER by hand (pyca `cryptography` refuses
most of these values) and signed with certs/ca.key, so Envoy's TLS stack verifies the chain and
the filter sees what a real client presented. The other inputs (garbage around PEM, bad URL
escapes, truncated DER) are not certificates at all.

manifest.json holds, per case, the expected outcome at each layer:
  core   certprop::parse + certprop::decide with the manifest's config
  wasm   the built filter in the wasmtime test host, given the input as the peer certificate
  envoy  the real Envoy: the file presented by curl in the mTLS handshake, then the filter;
         `handshake_refused` when Envoy's TLS stack refuses the certificate itself, and
         `spoofed_xfcc_ignored` for inputs that are not a certificate a TLS client can present
         (they are sent as the client's own x-forwarded-client-cert instead, which must not
         change the identity the backend sees).
An outcome is `allow` (then `headers` lists the identity headers that must be set) or
`deny:<reason>`. The tests read the manifest; the expectations live only here.
"""

from __future__ import annotations

import base64
import json
import random
import urllib.parse
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

CERTS = Path(__file__).resolve().parent
OUT = CERTS / "hostile"

# The config every layer uses: base64 where a value may hold anything, raw where a hostile
# value must be refused rather than passed on.
CONFIG = {
    "headers": [
        {"name": "x-client-cert-sub", "value": "subject", "encoding": "base64"},
        {"name": "x-client-cert-cn", "value": "cn", "encoding": "raw"},
        {"name": "x-client-cert-dns", "value": "san_dns", "encoding": "raw"},
        {"name": "x-client-cert-serial", "value": "serial", "encoding": "raw"},
        {"name": "x-client-cert-sha256", "value": "sha256", "encoding": "raw"},
        {"name": "x-client-cert-spiffe-id", "value": "spiffe_id", "encoding": "raw"},
    ],
    "strip": ["x-forwarded-client-cert", "client-cert"],
    "on_missing_cert": "deny",
    "policy": {"check_validity": True},
}

# ---------------------------------------------------------------------------------------------
# DER, by hand

UTF8, PRINTABLE, T61, IA5, UNIVERSAL, BMP = 0x0C, 0x13, 0x14, 0x16, 0x1C, 0x1E


def length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    octets = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + length(len(content)) + content


def seq(*parts: bytes) -> bytes:
    return tlv(0x30, b"".join(parts))


def oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    body = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        groups = [arc & 0x7F]
        arc >>= 7
        while arc:
            groups.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body += bytes(reversed(groups))
    return tlv(0x06, bytes(body))


def integer(content: bytes) -> bytes:
    """An INTEGER with exactly these content octets (negative, zero, long: as given)."""
    return tlv(0x02, content)


CN, OU, O, C = "2.5.4.3", "2.5.4.11", "2.5.4.10", "2.5.4.6"


def atv(type_oid: str, tag: int, value: bytes) -> bytes:
    return seq(oid(type_oid), tlv(tag, value))


def name(*rdns: list[bytes]) -> bytes:
    """A Name from RDNs in certificate order; each RDN is a list of AttributeTypeAndValue."""
    return seq(*(tlv(0x31, b"".join(sorted(rdn))) for rdn in rdns))


def simple_name(*attributes: tuple[str, int, bytes]) -> bytes:
    return name(*([atv(*a)] for a in attributes))


def extension(ext_oid: str, value: bytes, critical: bool = False) -> bytes:
    parts = [oid(ext_oid)]
    if critical:
        parts.append(tlv(0x01, b"\xff"))
    parts.append(tlv(0x04, value))
    return seq(*parts)


def san(*names: tuple[int, bytes]) -> bytes:
    """subjectAltName: (context tag number, IA5 content) pairs; 2 = dNSName, 6 = URI."""
    return seq(*(tlv(0x80 | tag, value) for tag, value in names))


BASIC_CONSTRAINTS = extension("2.5.29.19", seq(), critical=True)
KEY_USAGE = extension("2.5.29.15", tlv(0x03, b"\x07\x80"), critical=True)
EKU_CLIENT_AUTH = extension("2.5.29.37", seq(oid("1.3.6.1.5.5.7.3.2")))


def san_extension(*names: tuple[int, bytes], critical: bool = False) -> bytes:
    return extension("2.5.29.17", san(*names), critical=critical)


ECDSA_SHA256 = seq(oid("1.2.840.10045.4.3.2"))
# 2025-01-01 → 2125-01-01, as make_certs.py (UTCTime until 2049, GeneralizedTime after).
VALIDITY = seq(tlv(0x17, b"250101000000Z"), tlv(0x18, b"21250101000000Z"))


class Signer:
    """Signs hand-built TBSCertificates with the test CA; one key for every hostile leaf."""

    def __init__(self):
        ca = x509.load_pem_x509_certificate((CERTS / "ca.pem").read_bytes())
        self.issuer = ca.subject.public_bytes()
        self.ca_key = serialization.load_pem_private_key((CERTS / "ca.key").read_bytes(), None)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.spki = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.serials = random.Random()

    def certificate(self, subject: bytes, extensions: list[bytes], serial: bytes | None = None) -> bytes:
        if serial is None:
            serial = b"\x01" + self.serials.randbytes(15)
        tbs = seq(
            tlv(0xA0, integer(b"\x02")),
            integer(serial),
            ECDSA_SHA256,
            self.issuer,
            VALIDITY,
            subject,
            self.spki,
            tlv(0xA3, seq(*extensions)),
        )
        signature = self.ca_key.sign(tbs, ec.ECDSA(hashes.SHA256()))
        return seq(tbs, ECDSA_SHA256, tlv(0x03, b"\x00" + signature))

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def pem(der: bytes) -> bytes:
    body = base64.b64encode(der).decode("ascii")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return ("-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n").encode()


# ---------------------------------------------------------------------------------------------
# The cases

# The identity headers of an ordinary certificate with a CN, a DNS SAN and no SPIFFE ID.
USUAL = ["x-client-cert-sub", "x-client-cert-cn", "x-client-cert-dns", "x-client-cert-serial", "x-client-cert-sha256"]
ALLOW = {"core": "allow", "wasm": "allow", "envoy": "allow"}


def everywhere(outcome: str) -> dict:
    return {"core": outcome, "wasm": outcome, "envoy": outcome}


def encoded(text: str, tag: int) -> bytes:
    """`text` in the ASN.1 string type `tag` (T61String as ISO 8859-1, as OpenSSL reads it)."""
    if tag == BMP:
        return text.encode("utf-16-be")
    if tag == UNIVERSAL:
        return text.encode("utf-32-be")
    if tag == T61:
        return text.encode("latin-1")
    return text.encode("utf-8")


STRING_TYPES = {
    "utf8": UTF8,
    "printable": PRINTABLE,
    "ia5": IA5,
    "bmp": BMP,
    "universal": UNIVERSAL,
    "t61": T61,
}

# CR LF (header splitting), NUL, TAB, ESC (terminal escapes), DEL; T61 adds a C1 control
# (0x9B, CSI), which only its ISO 8859-1 reading turns into a character.
CONTROL_VALUES = {
    "utf8": "evil\r\nX-Injected: yes",
    "printable": "evil\r\nX-Injected: yes",
    "ia5": "admin\x00.example.org",
    "bmp": "evil\r\nX-Injected: yes\x1b[31m",
    "universal": "evil\x7f\r\nX-Injected: yes",
    "t61": "evil\x9b31m\r\nX-Injected: yes",
}


def cases(signer: Signer) -> list[dict]:
    out: list[dict] = []

    def add(case_name, what, outcomes, data, *, kind="pem", headers=None):
        entry = {"name": case_name, "what": what, **outcomes}
        if "allow" in outcomes.values():
            entry["headers"] = headers if headers is not None else USUAL
        out.append((entry, kind, data))

    def leaf(subject, *, sans=((2, b"hostile.example.org"),), extra=(), serial=None, eku=True):
        extensions = [BASIC_CONSTRAINTS, KEY_USAGE]
        if eku:
            extensions.append(EKU_CLIENT_AUTH)
        if sans:
            extensions.append(san_extension(*sans))
        extensions.extend(extra)
        return signer.certificate(subject, extensions, serial)

    def cn_leaf(cn: str, **kwargs):
        """A leaf with subject O=Hostile Test, CN=cn."""
        return leaf(simple_name((O, UTF8, b"Hostile Test"), (CN, UTF8, cn.encode())), **kwargs)

    base = leaf(simple_name((C, PRINTABLE, b"US"), (O, UTF8, b"Hostile Test"), (CN, UTF8, b"hostile-base")))
    add("baseline", "an ordinary certificate made the same way as every case below (the control)", ALLOW, base)

    # Control bytes in every attribute string type: in the CN, which the config sets raw, the
    # request is refused; in an OU, which only reaches the backend inside the base64 subject, it
    # is allowed and the subject escapes them as \XX.
    for type_name, tag in STRING_TYPES.items():
        value = encoded(CONTROL_VALUES[type_name], tag)
        add(
            f"ctl-{type_name}-cn",
            f"CN {type_name} string with control bytes {CONTROL_VALUES[type_name]!r}: raw CN header refused",
            everywhere("deny:unsafe_header_value"),
            leaf(simple_name((O, UTF8, b"Hostile Test"), (CN, tag, value))),
        )
        add(
            f"ctl-{type_name}-ou",
            f"OU {type_name} string with the same control bytes, CN plain: only in the base64 subject",
            ALLOW,
            leaf(
                simple_name(
                    (O, UTF8, b"Hostile Test"), (OU, tag, value), (CN, UTF8, f"ctl-{type_name}-ou".encode())
                )
            ),
        )

    # Invalid string encodings: the certificate does not parse strictly, so it is malformed; Envoy's
    # TLS stack (BoringSSL) refuses such a certificate in the handshake (alert decode_error).
    malformed = "deny:malformed_certificate"
    refused_by_envoy = {"core": malformed, "wasm": malformed, "envoy": "handshake_refused"}
    for case_name, what, tag, value in [
        ("utf8-invalid-bytes", "UTF8String holding 0xff 0xfe (never valid UTF-8)", UTF8, b"bad\xff\xfename"),
        ("utf8-overlong", "UTF8String with an overlong encoding of '/' (0xc0 0xaf)", UTF8, b"a\xc0\xafb"),
        ("utf8-surrogate", "UTF8String holding an encoded UTF-16 surrogate (0xed 0xa0 0x80)", UTF8, b"a\xed\xa0\x80b"),
        ("bmp-odd-length", "BMPString of 7 octets", BMP, "abc".encode("utf-16-be") + b"d"),
        ("bmp-lone-surrogate", "BMPString with a lone high surrogate", BMP, b"\x00a\xd8\x00\x00b"),
        ("universal-bad-length", "UniversalString of 6 octets", UNIVERSAL, "a".encode("utf-32-be") + b"\x00b"),
        ("universal-out-of-range", "UniversalString code point 0x110000", UNIVERSAL, b"\x00\x11\x00\x00"),
    ]:
        add(
            case_name,
            what + " in the CN",
            refused_by_envoy,
            leaf(simple_name((O, UTF8, b"Hostile Test"), (CN, tag, value))),
        )
    add(
        "t61-latin1",
        "T61String OU with ISO 8859-1 bytes ('Café Zoë'), read as OpenSSL reads it",
        ALLOW,
        leaf(
            simple_name(
                (O, UTF8, b"Hostile Test"), (OU, T61, "Café Zoë".encode("latin-1")), (CN, UTF8, b"t61-latin1")
            )
        ),
    )

    # Huge names and SAN lists: allowed while every header fits, refused (not truncated) when not.
    many_ous = [(OU, UTF8, f"unit-{i:03d}".encode()) for i in range(300)]
    add(
        "huge-dn-300-rdns",
        "300 RDNs (OU=unit-000…unit-299): about 4 KB of base64 subject, under the 8192 limit",
        ALLOW,
        leaf(simple_name((O, UTF8, b"Hostile Test"), *many_ous, (CN, UTF8, b"huge-dn-300-rdns"))),
    )
    add(
        "huge-dn-multivalued-rdn",
        "one RDN with 300 attributes (a multi-valued RDN of OUs): base64 subject over the limit",
        everywhere("deny:header_too_large"),
        leaf(
            name(
                [atv(O, UTF8, b"Hostile Test")],
                [atv(OU, UTF8, f"multi-valued-unit-{i:03d}".encode()) for i in range(300)],
                [atv(CN, UTF8, b"huge-dn-multivalued-rdn")],
            )
        ),
    )
    add(
        "huge-cn-value",
        "a 12000-character CN: the raw CN header would be over the limit",
        everywhere("deny:header_too_large"),
        leaf(simple_name((O, UTF8, b"Hostile Test"), (CN, UTF8, b"c" * 12000))),
    )
    add(
        "huge-san-100-dns",
        "100 DNS SANs: the comma-joined raw header is about 3 KB",
        ALLOW,
        cn_leaf(
            "huge-san-100-dns",
            sans=[(2, f"host-{i:03d}.hostile.example.org".encode()) for i in range(100)],
        ),
    )
    add(
        "huge-san-600-dns",
        "600 DNS SANs: the comma-joined raw header would be over the limit",
        everywhere("deny:header_too_large"),
        cn_leaf(
            "huge-san-600-dns",
            sans=[(2, f"host-{i:03d}.hostile.example.org".encode()) for i in range(600)],
        ),
    )

    # Hostile SAN values.
    add(
        "san-dns-crlf",
        "a DNS SAN holding CR LF and a header line (ASCII, so kept as it is): the raw DNS header is refused",
        everywhere("deny:unsafe_header_value"),
        cn_leaf(
            "san-dns-crlf",
            sans=[(2, b"a.example.org\r\nX-Injected: yes")],
        ),
    )
    add(
        "san-uri-spiffe-crlf",
        "the only URI SAN is spiffe://… with CR LF in it: the raw SPIFFE ID header is refused",
        everywhere("deny:unsafe_header_value"),
        cn_leaf(
            "san-uri-spiffe-crlf",
            sans=[(6, b"spiffe://example.org/ns/x\r\nX-Injected: yes")],
        ),
    )
    add(
        "san-two-spiffe-uris",
        "two spiffe:// URI SANs: no SPIFFE ID (ambiguous), so no SPIFFE header",
        ALLOW,
        cn_leaf(
            "san-two-spiffe-uris",
            sans=[(6, b"spiffe://example.org/ns/a/sa/one"), (6, b"spiffe://evil.example/ns/b/sa/two")],
        ),
        headers=["x-client-cert-sub", "x-client-cert-cn", "x-client-cert-serial", "x-client-cert-sha256"],
    )

    # Duplicate extensions: Envoy's TLS stack refuses them all in the handshake (certificate_unknown).
    plain = simple_name((O, UTF8, b"Hostile Test"), (CN, UTF8, b"duplicate-extension"))
    add(
        "duplicate-san-extension",
        "two subjectAltName extensions (which names are the client's?)",
        refused_by_envoy,
        leaf(plain, extra=[san_extension((2, b"other.example.org"))]),
    )
    add(
        "duplicate-eku-extension",
        "two extendedKeyUsage extensions",
        refused_by_envoy,
        leaf(plain, extra=[EKU_CLIENT_AUTH]),
    )
    add(
        "duplicate-basic-constraints",
        "two basicConstraints extensions (one certprop does not read, so it does not look for copies)",
        {"core": "allow", "wasm": "allow", "envoy": "handshake_refused"},
        leaf(plain, extra=[BASIC_CONSTRAINTS]),
    )

    # Serial numbers.
    serial_name = simple_name((O, UTF8, b"Hostile Test"), (CN, UTF8, b"serial"))
    for case_name, what, serial in [
        (
            "serial-negative",
            "serial INTEGER 0x80 0x01 … (negative; RFC 5280 says positive, parsers must cope)",
            b"\x80\x01\x02\x03\x04\x05\x06\x07",
        ),
        (
            "serial-20-octets",
            "a 20-octet serial with the high bit set (21 content octets with the 00 that keeps it positive)",
            b"\x00" + b"\xfe" * 20,
        ),
        ("serial-zero", "serial 0: its hex is 00, still a header", b"\x00"),
        ("serial-32-octets", "a 32-octet serial (over RFC 5280's 20)", b"\x7f" + b"\x11" * 31),
    ]:
        add(case_name, what, ALLOW, leaf(serial_name, serial=serial))

    # Empty subjects.
    add(
        "empty-subject-dns-san",
        "an empty subject and one DNS SAN: no subject or CN header",
        ALLOW,
        leaf(seq()),
        headers=["x-client-cert-dns", "x-client-cert-serial", "x-client-cert-sha256"],
    )
    add(
        "empty-subject-no-san",
        "an empty subject and no SAN at all: only serial and fingerprint",
        ALLOW,
        leaf(seq(), sans=()),
        headers=["x-client-cert-serial", "x-client-cert-sha256"],
    )

    # Inputs that are not a certificate (or not only one): what an edge might be handed. None is
    # a certificate a TLS client can present, so Envoy gets each as a client's own XFCC instead.
    as_xfcc = "spoofed_xfcc_ignored"
    junk = random.Random(6).randbytes(64)
    ca_pem = (CERTS / "ca.pem").read_bytes()
    for case_name, what, data, kind in [
        (
            "pem-garbage-around",
            "text, binary noise and a stray END line before the PEM block, noise after it",
            b"garbage before\n\x00\x01\xfe\n-----END CERTIFICATE-----\n"
            + junk
            + b"\n"
            + pem(base)
            + junk
            + b"\ntrailer\n",
            "txt",
        ),
        (
            "chain-with-garbage",
            "leaf, then a CERTIFICATE block of random bytes, then the CA: the leaf is used",
            pem(base) + pem(random.Random(8).randbytes(200)) + ca_pem,
            "txt",
        ),
    ]:
        add(case_name, what, {"core": "allow", "wasm": "allow", "envoy": as_xfcc}, data, kind=kind)
    urlenc = urllib.parse.quote(pem(base).decode("ascii"), safe="")
    for case_name, what, data, kind in [
        (
            "pem-garbage-block-first",
            "a CERTIFICATE block of random bytes before the real one: the first block is the leaf, so malformed",
            pem(random.Random(7).randbytes(300)) + pem(base),
            "txt",
        ),
        (
            "pem-bad-base64",
            "a CERTIFICATE block whose body has characters outside base64",
            pem(base).replace(b"\n", b"\n*!", 2),
            "txt",
        ),
        ("pem-unterminated", "a BEGIN line and a body without the END line", pem(base).rsplit(b"-----END", 1)[0], "txt"),
        ("pem-truncated-der", "valid PEM armour around the first half of the DER", pem(base[: len(base) // 2]), "txt"),
        (
            "urlenc-bad-escape",
            "URL-encoded PEM (as in XFCC Cert=) with a %ZZ escape",
            (urlenc[:40] + "%ZZ" + urlenc[40:]).encode(),
            "urlenc",
        ),
        (
            "urlenc-truncated-escape",
            "URL-encoded PEM that ends in the middle of an escape (%0)",
            (urlenc + "%0").encode(),
            "urlenc",
        ),
        (
            "urlenc-encoded-nul",
            "URL-encoded PEM with %00 and %0D%0A spliced into the base64 body",
            (urlenc[:120] + "%00%0D%0AX-Injected%3A%20yes" + urlenc[120:]).encode(),
            "urlenc",
        ),
        ("der-truncated", "the DER cut in half", base[: len(base) // 2], "der"),
        (
            "der-trailing-bytes",
            "the DER followed by 16 more bytes",
            base + b"\x00" * 8 + b"\x30\x03\x02\x01\x01" + b"\x00\x00\x00",
            "der",
        ),
        ("der-huge-length", "an outer SEQUENCE that claims 4 GiB", b"\x30\x84\xff\xff\xff\xff" + base[4:], "der"),
    ]:
        add(case_name, what, {"core": malformed, "wasm": malformed, "envoy": as_xfcc}, data, kind=kind)
    return out


def main():
    OUT.mkdir(exist_ok=True)
    for old in OUT.iterdir():
        old.unlink()
    signer = Signer()
    (OUT / "client.key").write_bytes(signer.key_pem())
    entries = []
    for entry, kind, data in cases(signer):
        if kind == "pem":
            data = pem(data)
        file_name = f"{entry['name']}.{kind}"
        (OUT / file_name).write_bytes(data)
        entries.append({"name": entry["name"], "file": file_name, **{k: v for k, v in entry.items() if k != "name"}})
    names = [e["name"] for e in entries]
    assert len(names) == len(set(names)), "case names are unique"
    manifest = {
        "about": "Written by certs/make_hostile.py; see its docstring. Paths are relative to this folder.",
        "key": "client.key",
        "config": CONFIG,
        "cases": entries,
    }
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
