"""`certprop inspect` against pyca/cryptography over pyca's own X.509 test vectors.

Every certificate file in the installed `cryptography_vectors` package (NIST PKITS, odd string
types, bit-string DNs, negative serials, broken encodings, ...) is loaded by pyca and inspected by
certprop; the two readings are compared field by field. Outcomes:

- agree: both read it and every field is equal
- differ: both read it and some field differs (differ_allowlisted: only in allowlisted fields)
- rejected_both: pyca refuses it and certprop exits 2 with a one-line error
- pyca_only_rejects / certprop_only_rejects: one of them refuses it
- crash: certprop exits with another status, dies on a signal, fails without a one-line error, or
  prints something that is not the JSON object. Never allowed.

Deliberate differences go in the allowlists below, each with the reason.
"""

from __future__ import annotations

import collections
import json
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cryptography_vectors
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from dn import parse_rfc4514, pyca_string_is_comparable, rdns_of
from expected import expected_spiffe_id, pyca_san, rfc3339, serial_hex

# pyca warns about what it reads leniently (negative serials, CN or C of odd length); a reading
# is still a reading.
pytestmark = [
    pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Attribute's length:UserWarning"),
]

VECTORS_X509 = Path(cryptography_vectors.__file__).resolve().parent / "x509"
CERT_SUFFIXES = {".pem", ".der", ".crt", ".cer"}

# (path relative to the x509/ folder, field) -> why certprop deliberately reads it differently.
DIFFER_ALLOWLIST: dict[tuple[str, str], str] = {}

# path -> why certprop refuses a file that pyca reads.
CERTPROP_ONLY_REJECTS_ALLOWLIST: dict[str, str] = {
    "utf8-dnsname.pem": (
        "a dNSName SAN (IA5String, 7-bit ASCII) carrying UTF-8 bytes: an invalid encoding, and"
        " certprop fails closed (malformed_certificate) rather than guess the charset of a name"
        " that policy rules match on"
    ),
}

# path -> why certprop reads a file that pyca refuses. certprop reads identity from a certificate
# the edge has already verified; it does not parse the public key or check the signature, so
# pyca's strictness about those parts is not a reason to refuse.
PYCA_ONLY_REJECTS_ALLOWLIST: dict[str, str] = {
    "PKITS_data/certs/DSAParametersInheritedCACert.crt": (
        "valid PKITS certificate: DSA key without parameters (inherited from the issuer, RFC 5280"
        " 6.1.4); pyca cannot read such a key, certprop does not read the key"
    ),
    "PKITS_data/certs/ValidDSAParameterInheritanceTest5EE.crt": (
        "valid PKITS certificate: DSA key without parameters (inherited from the issuer);"
        " certprop does not read the key"
    ),
    "custom/dsa_null_alg_params.pem": (
        "NULL parameters in the signature AlgorithmIdentifier (RFC 5758 says absent);"
        " certprop does not check the signature, OpenSSL accepts it"
    ),
    "custom/ecdsa_null_alg.pem": (
        "NULL parameters in the ECDSA signature AlgorithmIdentifier; certprop does not check the"
        " signature, OpenSSL accepts it"
    ),
    "custom/name_attribute_unsupported_tag.pem": (
        "CN whose value is not a string ([APPLICATION 9]); the contract writes non-string values"
        " as # + hex of their DER (CN=#690450794341) instead of refusing the certificate"
    ),
    "custom/long-form-name-attribute.pem": (
        "an attribute whose value has a long-form tag ([UNIVERSAL 32]): not a string type, so the"
        " contract writes it as # + hex of its DER (#7f2000); pyca refuses long-form tags"
    ),
    "ed25519/ed25519-rfc8410.pem": (
        "RFC 8410's own example certificate: an extension encodes critical=FALSE explicitly"
        " (DER forbids encoding the default); OpenSSL accepts it"
    ),
}

INSPECT_KEYS = {
    "subject",
    "issuer",
    "serial",
    "not_before",
    "not_after",
    "sha256",
    "san",
    "spiffe_id",
}


def corpus_files() -> list[Path]:
    """Files with a certificate suffix, plus any other file pyca reads as a certificate."""
    files = []
    for path in sorted(VECTORS_X509.rglob("*")):
        if not path.is_file():
            continue
        if path.suffix.lower() in CERT_SUFFIXES or pyca_load(path.read_bytes())[0]:
            files.append(path)
    return files


def pyca_load(data: bytes):
    """(certificate, None) or (None, why pyca refuses it). The first certificate of a PEM file."""
    errors = []
    for loader in (
        x509.load_pem_x509_certificate,
        x509.load_der_x509_certificate,
    ):
        try:
            with warnings.catch_warnings():
                # pyca warns on negative serials and some other oddities; still a reading.
                warnings.simplefilter("ignore")
                cert = loader(data)
            # Reading the names, serial and times can raise where loading did not.
            cert.subject.rfc4514_string()
            cert.issuer.rfc4514_string()
            _ = cert.serial_number, cert.not_valid_before_utc, cert.not_valid_after_utc
            return cert, None
        except Exception as exc:  # noqa: BLE001 - any refusal is an outcome
            errors.append(f"{loader.__name__}: {type(exc).__name__}: {exc}")
    return None, "; ".join(errors)


def compare_name(field: str, ours: str, name: x509.Name) -> list[str]:
    """Differences between certprop's string and pyca's parsed name."""
    diffs = []
    try:
        parsed = parse_rfc4514(ours)
    except Exception as exc:  # noqa: BLE001
        return [
            f"{field}: pyca cannot parse ours {ours!r}: {type(exc).__name__}: {exc}"
            f" (pyca's string {name.rfc4514_string()!r})"
        ]
    theirs = rdns_of(name)
    if parsed != theirs:
        diffs.append(f"{field}: parsed back {parsed!r} != pyca {theirs!r} (ours {ours!r})")
    if pyca_string_is_comparable(name) and ours != name.rfc4514_string():
        diffs.append(
            f"{field}: string ours {ours!r} != pyca {name.rfc4514_string()!r}"
        )
    return diffs


def compare(cert, out: dict) -> dict[str, str]:
    """field -> description of the difference."""
    diffs: dict[str, str] = {}
    if set(out) != INSPECT_KEYS:
        diffs["keys"] = f"keys {sorted(out)} != {sorted(INSPECT_KEYS)}"
    for field, name in (("subject", cert.subject), ("issuer", cert.issuer)):
        found = compare_name(field, out.get(field), name)
        if found:
            diffs[field] = "; ".join(found)
    expected = {
        "serial": serial_hex(cert.serial_number),
        "not_before": rfc3339(cert.not_valid_before_utc),
        "not_after": rfc3339(cert.not_valid_after_utc),
        "sha256": cert.fingerprint(hashes.SHA256()).hex(),
    }
    for field, want in expected.items():
        if out.get(field) != want:
            diffs[field] = f"{field}: ours {out.get(field)!r} != pyca {want!r}"
    san = pyca_san(cert)
    if san is not None:
        ours_san = out.get("san")
        if ours_san != san:
            diffs["san"] = f"san: ours {ours_san!r} != pyca {san!r}"
        want_spiffe = expected_spiffe_id(san)
        if out.get("spiffe_id") != want_spiffe:
            diffs["spiffe_id"] = (
                f"spiffe_id: ours {out.get('spiffe_id')!r} != expected {want_spiffe!r}"
            )
    return diffs


def classify(path: Path, run) -> tuple[str, str]:
    """(outcome, detail) for one file."""
    rel = path.relative_to(VECTORS_X509).as_posix()
    cert, pyca_error = pyca_load(path.read_bytes())
    if run.returncode not in (0, 2):
        return "crash", f"{rel}: {run.describe()}"
    if run.returncode == 2:
        err = run.stderr.rstrip("\n")
        if not err or "\n" in err or run.stdout:
            return "crash", f"{rel}: failure without a one-line error: {run.describe()}"
        if cert is None:
            return "rejected_both", f"{rel}: ours {err!r}; pyca {pyca_error}"
        return "certprop_only_rejects", f"{rel}: ours {err!r}"
    try:
        out = json.loads(run.stdout)
        assert isinstance(out, dict)
    except Exception:  # noqa: BLE001
        return "crash", f"{rel}: exit 0 without a JSON object: {run.describe()}"
    if cert is None:
        return "pyca_only_rejects", f"{rel}: pyca {pyca_error}; ours {run.stdout.strip()[:300]}"
    diffs = compare(cert, out)
    unexplained = {f: d for f, d in diffs.items() if (rel, f) not in DIFFER_ALLOWLIST}
    if unexplained:
        return "differ", f"{rel}: " + " | ".join(unexplained.values())
    if diffs:
        return "differ_allowlisted", f"{rel}: " + " | ".join(diffs.values())
    return "agree", rel


def test_corpus_matches_pyca(certprop, tmp_path, report_line):
    files = corpus_files()
    assert len(files) > 500, f"expected the x509 vectors, found {len(files)} files in {VECTORS_X509}"

    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = list(pool.map(certprop.inspect, files))

    results: dict[str, list[str]] = collections.defaultdict(list)
    for path, run in zip(files, runs):
        outcome, detail = classify(path, run)
        results[outcome].append(detail)

    order = [
        "agree",
        "differ",
        "differ_allowlisted",
        "rejected_both",
        "pyca_only_rejects",
        "certprop_only_rejects",
        "crash",
    ]
    summary = ", ".join(f"{k}={len(results[k])}" for k in order)
    report = tmp_path / "corpus-report.txt"
    with report.open("w") as f:
        f.write(summary + "\n")
        for outcome in order[1:]:
            for detail in results[outcome]:
                f.write(f"[{outcome}] {detail}\n")
    report_line(f"corpus: {len(files)} files: {summary} (details: {report})")
    shown = 0
    for outcome in ("crash", "differ", "certprop_only_rejects", "pyca_only_rejects"):
        for detail in results[outcome]:
            if shown < 30:
                print(f"[{outcome}] {detail[:600]}")
                shown += 1

    def rel_of(detail: str) -> str:
        return detail.split(":", 1)[0]

    unexpected_certprop_rejects = [
        d for d in results["certprop_only_rejects"] if rel_of(d) not in CERTPROP_ONLY_REJECTS_ALLOWLIST
    ]
    unexpected_pyca_rejects = [
        d for d in results["pyca_only_rejects"] if rel_of(d) not in PYCA_ONLY_REJECTS_ALLOWLIST
    ]
    problems = []
    if results["crash"]:
        problems.append(f"certprop crashed on {len(results['crash'])} files: {results['crash'][:5]}")
    if results["differ"]:
        problems.append(f"{len(results['differ'])} files read differently from pyca: {results['differ'][:5]}")
    if unexpected_certprop_rejects:
        problems.append(f"certprop refuses files pyca reads: {unexpected_certprop_rejects[:10]}")
    if unexpected_pyca_rejects:
        problems.append(f"certprop reads files pyca refuses: {unexpected_pyca_rejects[:10]}")
    assert not problems, f"{summary}; details in {report}\n" + "\n".join(problems)
    assert len(results["agree"]) > 400, summary


def test_every_vector_file_gives_json_or_a_clean_error(certprop, report_line):
    """Every file under x509/, certificates or not (CRLs, PKCS#12, S/MIME, paths): certprop
    prints a JSON object, or exits 2 with one line on stderr and nothing on stdout. Never a crash."""
    files = sorted(p for p in VECTORS_X509.rglob("*") if p.is_file())
    assert len(files) > 1500, f"expected the whole x509 folder, found {len(files)} files"

    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = list(pool.map(certprop.inspect, files))

    bad = []
    counts = collections.Counter()
    for path, run in zip(files, runs):
        rel = path.relative_to(VECTORS_X509).as_posix()
        if run.returncode == 0:
            counts["read"] += 1
            if not isinstance(json.loads(run.stdout), dict):
                bad.append(f"{rel}: exit 0 without a JSON object")
        elif run.returncode == 2:
            counts["refused"] += 1
            err = run.stderr.rstrip("\n")
            if not err.startswith("certprop: error: ") or "\n" in err or run.stdout:
                bad.append(f"{rel}: not a one-line error: {run.describe()}")
        else:
            bad.append(f"{rel}: {run.describe()}")
    report_line(f"all x509 vector files: {len(files)}: read={counts['read']}, refused={counts['refused']}, bad={len(bad)}")
    assert not bad, bad[:10]
