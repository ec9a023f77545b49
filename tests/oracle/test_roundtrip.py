"""Property test: certprop's RFC 4514 subject parses back to the certificate's attributes.

About 150 self-signed certificates with random subjects (fixed seed, so a failure is
reproducible) are made in-process with pyca; random_names.py says what the subjects hold.

For each certificate: pyca's RFC 4514 parser must read certprop's `subject` back to the same
attribute types and values as pyca's own parse of the certificate; the string must contain no raw
control character; and where pyca's own rfc4514_string() is comparable (see
dn.pyca_string_is_comparable) the two strings must be byte-identical.

C1 controls (U+0080 to U+009F) are in the alphabet: certprop escapes a control character as the
\\XX hex of its UTF-8 octets (U+0085 -> \\C2\\85), and pyca 50's parser decodes a run of \\XX
escapes as UTF-8, so they round-trip. (Older pyca parsers decoded each \\XX as the code point
chr(XX), which would break this for C1 characters.)
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from dn import is_control, parse_rfc4514, pyca_string_is_comparable, rdns_of
from random_names import write_random_certificates

# Random values break pyca's length rules for CN and C on purpose; pyca warns about each.
pytestmark = pytest.mark.filterwarnings("ignore:Attribute's length:UserWarning")

SEED = 4514
COUNT = 150


@pytest.fixture(scope="module")
def random_certificates(tmp_path_factory):
    return write_random_certificates(tmp_path_factory.mktemp("roundtrip"), SEED, COUNT)


def test_subject_parses_back_to_the_certificate_attributes(certprop, random_certificates, report_line):
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = list(pool.map(lambda pc: certprop.inspect(pc[0]), random_certificates))

    failures = []
    byte_compared = 0
    for (path, cert), run in zip(random_certificates, runs):
        if run.returncode != 0:
            failures.append(f"{path.name}: {run.describe()}")
            continue
        ours = run.json()["subject"]
        expected = rdns_of(cert.subject)
        try:
            parsed = parse_rfc4514(ours)
        except Exception as exc:  # noqa: BLE001
            failures.append(f"{path.name}: pyca cannot parse {ours!r}: {exc!r}; want {expected!r}")
            continue
        if parsed != expected:
            failures.append(f"{path.name}: {ours!r} parses to {parsed!r}, want {expected!r}")
        if any(is_control(ch) for ch in ours):
            failures.append(f"{path.name}: raw control character in {ours!r}")
        if pyca_string_is_comparable(cert.subject):
            byte_compared += 1
            if ours != cert.subject.rfc4514_string():
                failures.append(
                    f"{path.name}: {ours!r} != pyca's {cert.subject.rfc4514_string()!r}"
                )
    report_line(
        f"roundtrip: {len(random_certificates)} random subjects, {len(failures)} failures,"
        f" {byte_compared} compared byte for byte with pyca"
    )
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:30])
    # The comparable subset must not be empty, or the byte check tests nothing.
    assert byte_compared >= 10, byte_compared
