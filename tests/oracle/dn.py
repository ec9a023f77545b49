"""Distinguished names as the oracle tests compare them.

A name is compared as a list of RDNs, each a list of (dotted OID, value) in certificate order.
A value is a str, or bytes for a value that is not a string: pyca gives those (only BIT STRING
today) as the content octets, certprop writes them as `#` + hex of the value's DER, so both are
turned into DER before comparing.
"""

from __future__ import annotations

import contextlib
import unicodedata

import cryptography.x509.name as pyca_name
from cryptography import x509

# The attribute types certprop (and pyca) write as keywords in RFC 4514 strings.
KEYWORD_OIDS = {
    "2.5.4.3": "CN",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.6": "C",
    "2.5.4.9": "STREET",
    "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
}

Rdns = list[list[tuple[str, "str | bytes"]]]


def der_bit_string(content: bytes) -> bytes:
    """DER of a BIT STRING whose content octets (unused-bits octet first) are `content`."""
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        octets = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(octets)]) + octets
    return b"\x03" + length + content


def rdns_of(name: x509.Name) -> Rdns:
    """pyca's parsed name as RDN lists; a bytes (BIT STRING) value becomes its DER."""
    out: Rdns = []
    for rdn in name.rdns:
        attrs = []
        for attr in rdn:
            value = attr.value
            if isinstance(value, bytes):
                value = der_bit_string(value)
            attrs.append((attr.oid.dotted_string, value))
        out.append(attrs)
    return out


def is_control(ch: str) -> bool:
    """A control character (Unicode category Cc: C0, DEL, C1)."""
    return unicodedata.category(ch) == "Cc"


def pyca_string_is_comparable(name: x509.Name) -> bool:
    """True when pyca's rfc4514_string() must equal certprop's byte for byte.

    That holds when every attribute type has a keyword and every value is text without
    control characters other than NUL: pyca writes bytes values as hex of the content
    octets (not DER) and leaves control characters other than NUL unescaped, while
    certprop escapes every control character as \\XX.
    """
    for attr in name:
        if attr.oid.dotted_string not in KEYWORD_OIDS:
            return False
        if not isinstance(attr.value, str):
            return False
        if any(is_control(ch) and ch != "\0" for ch in attr.value):
            return False
    return True


@contextlib.contextmanager
def _no_length_limits():
    """Let pyca's parser build attributes that break its length rules (CN over 64, C not 2).

    Certificates carry such values; pyca loads them but its RFC 4514 parser refuses them.
    """
    saved = pyca_name._NAMEOID_LENGTH_LIMIT
    pyca_name._NAMEOID_LENGTH_LIMIT = {}
    try:
        yield
    finally:
        pyca_name._NAMEOID_LENGTH_LIMIT = saved


def _split_attributes(text: str) -> list[tuple[str, str]]:
    """Split an RFC 4514 string at unescaped `,` and `+`: (attribute text, separator after it)."""
    pieces = []
    start = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch in ",+":
            pieces.append((text[start:i], ch))
            start = i + 1
        i += 1
    pieces.append((text[start:], ""))
    return pieces


def parse_rfc4514(text: str) -> Rdns:
    """Parse certprop's RFC 4514 string with pyca's parser.

    Two additions: `#hex` values (pyca would decode them as UTF-8 text) come back as bytes,
    and pyca's length rules for CN and C are off. Raises ValueError (or UnicodeDecodeError)
    where pyca's parser refuses the string.
    """
    if text == "":
        return []
    hex_values: dict[str, bytes] = {}
    rebuilt = []
    for attr_text, sep in _split_attributes(text):
        attr_type, eq, value = attr_text.partition("=")
        if eq and value.startswith("#"):
            placeholder = f"certprop-oracle-hexstring-{len(hex_values)}"
            hex_values[placeholder] = bytes.fromhex(value[1:])
            attr_text = f"{attr_type}={placeholder}"
        rebuilt.append(attr_text + sep)
    with _no_length_limits():
        name = x509.Name.from_rfc4514_string("".join(rebuilt))
    return [
        [
            (attr.oid.dotted_string, hex_values.get(attr.value, attr.value))
            for attr in rdn
        ]
        for rdn in name.rdns
    ]
