"""Seed inputs for the fuzz targets (`make fuzz-corpus` runs this, then minimizes with `cargo fuzz cmin`).

    .venv/bin/python fuzz/make_seeds.py OUT_DIR

writes OUT_DIR/parse/, OUT_DIR/config/ and OUT_DIR/decide/, one file per seed, named by the
SHA-1 of its content as libFuzzer names corpus files. Sources:

- certificates: certs/*.pem, *.der, *.urlenc, and every X.509 file (.pem .der .crt .cer) in the
  installed PyPI package cryptography_vectors;
- configs: envoy/certprop.json, the Lambda fixtures, the JSON blocks of README.md, the raw-string
  configs in the Rust sources and tests, and one config per preset, per encoding and with every rule
  field;
- decide: configs and certificates combined in the layout of `certprop_fuzz::DecideInput`
  (u16 LE config length, config, i64 LE seconds since the epoch, certificate).
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import sys
from pathlib import Path

import cryptography_vectors

ROOT = Path(__file__).resolve().parent.parent
VECTORS_X509 = Path(cryptography_vectors.__file__).resolve().parent / "x509"
CERT_SUFFIXES = {".pem", ".der", ".crt", ".cer"}
MAX_INPUT_BYTES = 256 * 1024  # certprop::MAX_INPUT_BYTES: larger inputs are refused before parsing
# 2026-01-01T00:00:00Z: inside the validity period of certs/ (2025 to 2125).
NOW = 1_767_225_600

VALUES = [
    "subject", "subject_node", "issuer", "serial", "not_before", "not_after", "sha256", "spiffe_id",
    "san_dns", "san_uri", "san_email", "san_ip", "cn", "attr:CN", "attr:OU", "attr:emailAddress",
    "attr:2.5.4.5", "cert", "json",
]
ENCODINGS = ["base64", "base64url", "percent", "raw"]
PRESETS = ["aws-sample", "rfc9440", "xfcc", "alb"]
# Certificates from certs/ that each config seed is combined with in `decide` seeds.
DECIDE_CERTS = [
    "client.pem", "client.der", "client.urlenc", "spiffe.pem", "unicode.pem", "hostile-crlf.pem",
    "multi-rdn.pem", "huge-subject.pem", "expired.pem", "no-eku.pem",
]


def certificate_seeds() -> list[bytes]:
    paths = [p for p in sorted((ROOT / "certs").iterdir()) if p.suffix in {".pem", ".der", ".urlenc"}]
    paths += [p for p in sorted(VECTORS_X509.rglob("*")) if p.is_file() and p.suffix in CERT_SUFFIXES]
    return [data for data in (p.read_bytes() for p in paths) if 0 < len(data) <= MAX_INPUT_BYTES]


def made_configs() -> list[str]:
    configs = [{}]
    configs += [{"preset": preset} for preset in PRESETS]
    for encoding in ENCODINGS:
        headers = [{"name": f"x-v{i}", "value": value, "encoding": encoding} for i, value in enumerate(VALUES)]
        configs.append({"headers": headers, "max_header_bytes": 65536, "policy": {"check_validity": False}})
    configs.append({"headers": [{"name": "x-sub", "value": "subject", "encoding": "raw"}], "max_header_bytes": 16})
    configs.append({
        "headers": [{"name": "x-client-cert-sub", "value": "subject"}],
        "strip": ["x-forwarded-client-cert", "client-cert"],
        "on_missing_cert": "allow",
        "max_header_bytes": 8192,
        "policy": {
            "check_validity": True,
            "clock_skew_seconds": 300,
            "require_client_auth_eku": True,
            "allow": [
                {"issuer": "CN=certprop Test CA,O=certprop", "subject": "CN=client-*,OU=Payments,O=Acme\\, Inc.,C=US"},
                {"spiffe_trust_domain": "example.org", "spiffe_id": "spiffe://example.org/*"},
                {"dns_san": "*.example.org", "uri_san": "https://*", "email_san": "*@example.org"},
                {"sha256": "00" * 32},
            ],
            "deny": [{"serial": "0d:79:19"}, {"subject": "CN=\\2A,O=#0c0141"}],
        },
    })
    return [json.dumps(c) for c in configs]


def source_configs() -> list[str]:
    texts = [(ROOT / "envoy" / "certprop.json").read_text()]
    texts += [p.read_text() for p in sorted((ROOT / "lambda" / "tests" / "fixtures").glob("*.json"))]
    readme = (ROOT / "README.md").read_text()
    texts += re.findall(r"```json\n(.*?)```", readme, re.DOTALL)
    sources = [p for d in ("core/src", "cli/src", "lambda/src", "lambda/tests", "tests/tests") for p in sorted((ROOT / d).glob("*.rs"))]
    for source in sources:
        for text in re.findall(r'r#"(.*?)"#', source.read_text(), re.DOTALL):
            if text.lstrip().startswith("{") and "{{" not in text:
                texts.append(text)
    return texts


def decide_input(config: str, certificate: bytes, now: int = NOW) -> bytes:
    encoded = config.encode()[:0xFFFF]
    return struct.pack("<H", len(encoded)) + encoded + struct.pack("<q", now) + certificate


def write(directory: Path, seeds: list[bytes]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        (directory / hashlib.sha1(seed).hexdigest()).write_bytes(seed)


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__.strip().splitlines()[2].strip())
    out = Path(sys.argv[1])
    certificates = certificate_seeds()
    configs = made_configs() + source_configs()
    every_value_raw = made_configs()[1 + len(PRESETS) + ENCODINGS.index("raw")]
    decide = [decide_input(config, (ROOT / "certs" / name).read_bytes()) for config in configs for name in DECIDE_CERTS]
    decide += [decide_input(config, b"") for config in configs]
    decide += [decide_input(config, certificate) for certificate in certificates for config in ("{}", every_value_raw)]
    decide += [decide_input("{}", (ROOT / "certs" / "client.pem").read_bytes(), now) for now in (0, -1, 2**62, 4_102_444_800)]
    write(out / "parse", certificates)
    write(out / "config", [c.encode() for c in configs])
    write(out / "decide", decide)
    for target in ("parse", "config", "decide"):
        print(f"{target}: {len(list((out / target).iterdir()))} seeds")


if __name__ == "__main__":
    main()
