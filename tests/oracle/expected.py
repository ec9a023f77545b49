"""What certprop should print for a certificate, computed from pyca's reading of it."""

from __future__ import annotations

import datetime
import warnings

from cryptography import x509


def serial_hex(n: int) -> str:
    """Hex of the serial's minimal two's-complement big-endian bytes (DER content, 00 pad dropped)."""
    if n >= 0:
        length = max(1, (n.bit_length() + 7) // 8)
        return n.to_bytes(length, "big").hex()
    length = ((~n).bit_length() + 8) // 8
    return n.to_bytes(length, "big", signed=True).hex()


def rfc3339(t: datetime.datetime) -> str:
    """RFC 3339, UTC, whole seconds, `Z`."""
    t = t.astimezone(datetime.timezone.utc)
    return (
        f"{t.year:04d}-{t.month:02d}-{t.day:02d}"
        f"T{t.hour:02d}:{t.minute:02d}:{t.second:02d}Z"
    )


def pyca_san(cert):
    """Typed SAN lists, or None where pyca cannot read the extensions."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ext = cert.extensions.get_extension_for_class(
                x509.SubjectAlternativeName
            )
    except x509.ExtensionNotFound:
        return {"dns": [], "uri": [], "email": [], "ip": []}
    except Exception:  # noqa: BLE001 - unreadable extensions: nothing to compare
        return None
    san = ext.value
    return {
        "dns": san.get_values_for_type(x509.DNSName),
        "uri": san.get_values_for_type(x509.UniformResourceIdentifier),
        "email": san.get_values_for_type(x509.RFC822Name),
        "ip": [str(ip) for ip in san.get_values_for_type(x509.IPAddress)],
    }


def expected_spiffe_id(san) -> str | None:
    """The only URI SAN when it is a spiffe:// URI, else None."""
    if san is None:
        return None
    uris = san["uri"]
    if len(uris) == 1 and uris[0].startswith("spiffe://"):
        return uris[0]
    return None
