"""End-to-end checks of the certprop CLI on the fixtures in certs/."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from conftest import CERTS_DIR
from expected import rfc3339, serial_hex

NOW = "2027-01-01T00:00:00Z"


def load(name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((CERTS_DIR / name).read_bytes())


def assert_one_line_error(run):
    assert run.returncode == 2, run.describe()
    assert run.stdout == "", run.describe()
    err = run.stderr.rstrip("\n")
    assert err and "\n" not in err, run.describe()


def test_inspect_client(certprop):
    out = certprop.inspect(CERTS_DIR / "client.pem").json()
    cert = load("client.pem")
    assert out == {
        "subject": "CN=client-a,OU=Payments,O=Acme\\, Inc.,C=US",
        "issuer": "CN=certprop Test CA,O=certprop",
        "serial": serial_hex(cert.serial_number),
        "not_before": "2025-01-01T00:00:00Z",
        "not_after": "2125-01-01T00:00:00Z",
        "sha256": cert.fingerprint(hashes.SHA256()).hex(),
        "san": {
            "dns": ["client-a.example.org"],
            "uri": [],
            "email": ["client-a@example.org"],
            "ip": ["10.1.2.3", "2001:db8::1"],
        },
        "spiffe_id": None,
    }
    assert out["subject"] == cert.subject.rfc4514_string()
    assert out["not_after"] == rfc3339(cert.not_valid_after_utc)


def test_inspect_prints_one_json_object_and_nothing_else(certprop):
    run = certprop.inspect(CERTS_DIR / "client.pem")
    assert run.returncode == 0 and run.stderr == "", run.describe()
    assert isinstance(json.loads(run.stdout), dict)


@pytest.mark.parametrize("name", ["client.der", "client.urlenc", "chain.pem"])
def test_other_encodings_give_the_client(certprop, name):
    want = load("client.pem").fingerprint(hashes.SHA256()).hex()
    out = certprop.inspect(CERTS_DIR / name).json()
    assert out["sha256"] == want
    assert out["subject"] == "CN=client-a,OU=Payments,O=Acme\\, Inc.,C=US"


def test_headers_default_config_is_base64_subject(certprop, tmp_path):
    run, out = certprop.headers(CERTS_DIR / "client.pem", {}, tmp_path, "--now", NOW)
    assert run.returncode == 0, run.describe()
    subject = "CN=client-a,OU=Payments,O=Acme\\, Inc.,C=US"
    assert out == {
        "decision": "allow",
        "headers": {"x-client-cert-sub": base64.b64encode(subject.encode()).decode()},
    }


def test_garbage_is_refused(certprop):
    assert_one_line_error(certprop.inspect(CERTS_DIR / "garbage.pem"))


def test_missing_file_is_refused(certprop, tmp_path):
    assert_one_line_error(certprop.inspect(tmp_path / "no-such-file.pem"))


def test_spiffe(certprop):
    out = certprop.inspect(CERTS_DIR / "spiffe.pem").json()
    assert out["subject"] == ""
    assert out["spiffe_id"] == "spiffe://example.org/ns/default/sa/client"
    assert out["san"]["uri"] == ["spiffe://example.org/ns/default/sa/client"]


def test_multi_valued_rdn(certprop):
    out = certprop.inspect(CERTS_DIR / "multi-rdn.pem").json()
    assert out["subject"] == "CN=multi+UID=u123,O=Acme"


def test_unicode_string_types(certprop):
    cert = load("unicode.pem")
    out = certprop.inspect(CERTS_DIR / "unicode.pem").json()
    assert out["subject"] == cert.subject.rfc4514_string()
    assert out["subject"] == (
        "CN=Zoë Ünïcødé 日本 🔒,OU=Ünïversal 🔒 𝄞,O=Ωmega Straße Žluť,L=Chiyoda,ST=Tokyo,C=JP"
    )


def test_hostile_subject_is_escaped(certprop):
    out = certprop.inspect(CERTS_DIR / "hostile-crlf.pem").json()
    assert out["subject"] == (
        "CN=evil\\0D\\0AX-Injected: yes,ST=\\ spaced\\ ,L=\\#leading-hash,"
        'OU=a\\00b\\09c,O=x\\,y\\+z\\"\\<\\>\\;\\\\#,C=US'
    )


def test_hostile_subject_never_reaches_a_header_raw(certprop, tmp_path):
    config = {"headers": [{"name": "x-sub", "value": "subject", "encoding": "raw"}]}
    run, out = certprop.headers(CERTS_DIR / "hostile-crlf.pem", config, tmp_path, "--now", NOW)
    assert run.returncode == 0, run.describe()
    if out["decision"] == "deny":
        assert out["reason"] == "unsafe_header_value", out
    else:
        assert out["decision"] == "allow", out
        assert out["headers"]["x-sub"].startswith("CN=evil\\0D\\0AX-Injected: yes,"), out
    for value in out.get("headers", {}).values():
        assert "\r" not in value and "\n" not in value and "\0" not in value, out


def test_huge_subject_is_denied(certprop, tmp_path):
    run, out = certprop.headers(CERTS_DIR / "huge-subject.pem", {}, tmp_path, "--now", NOW)
    assert run.returncode == 0, run.describe()
    assert out == {"decision": "deny", "reason": "header_too_large"}


@pytest.mark.parametrize(
    ("name", "reason"),
    [("expired.pem", "expired"), ("not-yet-valid.pem", "not_yet_valid")],
)
def test_validity_is_checked(certprop, tmp_path, name, reason):
    run, out = certprop.headers(CERTS_DIR / name, {}, tmp_path, "--now", NOW)
    assert run.returncode == 0, run.describe()
    assert out == {"decision": "deny", "reason": reason}
