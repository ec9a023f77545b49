"""The signature header, checked by an independent implementation of its documented format.

The README describes what the HMAC covers. This file implements that description with Python's
hmac module, so a backend in another language can rely on it: what certprop signs, Python
verifies; what Python signs, `certprop verify` accepts; any change is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from conftest import CERTS_DIR, write_config

NOW = "2027-01-01T00:00:00Z"
NOW_SECONDS = 1798761600
SECRET_NEW = bytes(range(32))
SECRET_OLD = bytes(range(100, 132))
HEADERS = [
    {"name": "x-client-cert-sub", "value": "subject"},
    {"name": "x-client-cert-sha256", "value": "sha256", "encoding": "raw"},
    {"name": "x-client-cert-spiffe-id", "value": "spiffe_id", "encoding": "raw"},
]


def config(keys: list[tuple[str, bytes]], max_age: int = 300) -> dict:
    return {
        "headers": HEADERS,
        "signature": {
            "keys": [{"id": kid, "secret": base64.b64encode(secret).decode()} for kid, secret in keys],
            "max_age_seconds": max_age,
        },
    }


def canonical(kid: str, timestamp: int, headers: dict[str, str]) -> bytes:
    """The signed text as the README states it: one line each, every configured header."""
    lines = ["certprop-signature-v1", f"kid={kid}", f"t={timestamp}"]
    lines += [f"{h['name']}:{headers.get(h['name'], '')}" for h in HEADERS]
    return "\n".join(lines).encode()


def python_sign(kid: str, secret: bytes, timestamp: int, headers: dict[str, str]) -> str:
    tag = hmac.new(secret, canonical(kid, timestamp, headers), hashlib.sha256).digest()
    return f"v1;kid={kid};t={timestamp};sig={base64.urlsafe_b64encode(tag).decode().rstrip('=')}"


def python_verify(secrets: dict[str, bytes], headers: dict[str, str]) -> bool:
    fields = dict(f.split("=", 1) for f in headers["x-client-cert-signature"].split(";")[1:])
    tag = base64.urlsafe_b64decode(fields["sig"] + "=" * (-len(fields["sig"]) % 4))
    expected = hmac.new(secrets[fields["kid"]], canonical(fields["kid"], int(fields["t"]), headers), hashlib.sha256)
    return hmac.compare_digest(tag, expected.digest())


def signed_headers(certprop, tmp_path, name: str, cfg: dict) -> dict[str, str]:
    run, out = certprop.headers(CERTS_DIR / name, cfg, tmp_path, "--now", NOW)
    assert run.returncode == 0 and out["decision"] == "allow", run.describe()
    return out["headers"]


def verify(certprop, tmp_path, cfg: dict, headers: dict[str, str] | list[tuple[str, str]], now: str = NOW):
    pairs = headers.items() if isinstance(headers, dict) else headers
    block = tmp_path / "request-headers.txt"
    block.write_text("".join(f"{name}: {value}\r\n" for name, value in pairs))
    return certprop.run("verify", "--config", write_config(tmp_path, cfg), "--now", now, block)


@pytest.mark.parametrize("name", ["client.pem", "spiffe.pem"])
def test_python_verifies_what_certprop_signs(certprop, tmp_path, name):
    headers = signed_headers(certprop, tmp_path, name, config([("k1", SECRET_NEW)]))
    assert headers["x-client-cert-signature"].startswith(f"v1;kid=k1;t={NOW_SECONDS};sig=")
    assert python_verify({"k1": SECRET_NEW}, headers)
    assert not python_verify({"k1": SECRET_OLD}, headers)


def test_certprop_verifies_what_python_signs(certprop, tmp_path):
    identity = {"x-client-cert-sub": "Q049YQ==", "x-client-cert-sha256": "ab" * 32}
    headers = dict(identity, **{"x-client-cert-signature": python_sign("k1", SECRET_NEW, NOW_SECONDS, identity)})
    run = verify(certprop, tmp_path, config([("k1", SECRET_NEW)]), headers)
    assert run.returncode == 0, run.describe()
    out = json.loads(run.stdout)
    assert out == {"verified": True, "key_id": "k1", "signed_at": NOW, "headers": identity}


def test_verify_round_trip_and_every_refusal(certprop, tmp_path):
    cfg = config([("k1", SECRET_NEW)], max_age=60)
    headers = signed_headers(certprop, tmp_path, "client.pem", cfg)
    assert verify(certprop, tmp_path, cfg, headers).returncode == 0

    def refused(cfg, headers, reason, now=NOW):
        run = verify(certprop, tmp_path, cfg, headers, now)
        assert run.returncode == 1, run.describe()
        assert json.loads(run.stdout)["reason"] == reason, run.describe()

    tampered = dict(headers, **{"x-client-cert-sub": headers["x-client-cert-sub"][:-2] + "=="})
    refused(cfg, tampered, "bad_signature")
    refused(cfg, dict(headers, **{"x-client-cert-spiffe-id": "spiffe://example.org/admin"}), "bad_signature")
    refused(cfg, list(headers.items()) + [("X-Client-Cert-Sub", headers["x-client-cert-sub"])], "repeated_header")
    refused(config([("k2", SECRET_NEW)]), headers, "unknown_key")
    refused(cfg, headers, "outside_window", now="2027-01-01T00:01:01Z")
    refused(cfg, {k: v for k, v in headers.items() if k != "x-client-cert-signature"}, "missing_signature")


def test_key_rotation(certprop, tmp_path):
    old_edge = signed_headers(certprop, tmp_path, "client.pem", config([("old", SECRET_OLD)]))
    new_edge = signed_headers(certprop, tmp_path, "client.pem", config([("new", SECRET_NEW), ("old", SECRET_OLD)]))
    backend = config([("new", SECRET_NEW), ("old", SECRET_OLD)])
    assert json.loads(verify(certprop, tmp_path, backend, old_edge).stdout)["key_id"] == "old"
    assert json.loads(verify(certprop, tmp_path, backend, new_edge).stdout)["key_id"] == "new"


def test_verify_without_a_signature_block_is_a_config_error(certprop, tmp_path):
    run = verify(certprop, tmp_path, {}, {"x-client-cert-sub": "Q049YQ=="})
    assert run.returncode == 2 and "signature" in run.stderr, run.describe()
