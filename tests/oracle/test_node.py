"""The `aws-sample` preset against Node itself.

The AWS sample authorizer sets `x-client-cert-sub` to Node's
`new crypto.X509Certificate(pem).subject` with every newline replaced by a comma. For each
certificate in certs/, and for random subjects from random_names.py, Node computes that string
and certprop's `headers` must give the same bytes.

Node's string can hold what a header value must not: control bytes are escaped, but the string
can end in a space (a trailing space is written `\\ `), which HTTP would trim. There certprop
must deny with `unsafe_header_value` rather than send a different string.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import CERTS_DIR, write_config
from random_names import write_random_certificates

# Every PEM fixture that holds a certificate (garbage.pem is malformed on purpose).
PEM_FILES = sorted(p.name for p in CERTS_DIR.glob("*.pem") if p.name != "garbage.pem")

# Node prints, for each file named on the command line, the sample's header value
# (null where Node has no subject: an empty subject reads as `undefined`).
NODE_SCRIPT = r"""
const { X509Certificate } = require('crypto');
const fs = require('fs');
const out = {};
for (const file of process.argv.slice(1)) {
  const subject = new X509Certificate(fs.readFileSync(file)).subject;
  out[file] = subject === undefined ? null : subject.replaceAll('\n', ',');
}
process.stdout.write(JSON.stringify(out));
"""

CONFIG = {
    "preset": "aws-sample",
    "max_header_bytes": 65536,
    # expired.pem and not-yet-valid.pem are compared too.
    "policy": {"check_validity": False},
}
NOW = "2027-01-01T00:00:00Z"


RANDOM_SEED = 9440
RANDOM_COUNT = 120


def node_subject_strings(paths) -> dict[str, str | None]:
    """The sample's header value for each file, computed by Node: path -> string or None."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "node is not installed: the aws-sample oracle needs Node.js (apt-get install nodejs)",
            pytrace=False,
        )
    proc = subprocess.run(
        [node, "-e", NODE_SCRIPT, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"node failed: {proc.stderr}"
    return json.loads(proc.stdout)


def safe_as_header(value: str) -> bool:
    """No control bytes (0x00-0x1F, 0x7F) and no whitespace at either end.

    Bytes, not characters: a C1 control character is two bytes of UTF-8 (C2 80 to C2 9F), which
    HTTP carries as obs-text.
    """
    data = value.encode("utf-8")
    return all(b >= 0x20 and b != 0x7F for b in data) and data == data.strip(b" \t")


@pytest.fixture(scope="module")
def node_subjects() -> dict[str, str | None]:
    by_path = node_subject_strings(CERTS_DIR / name for name in PEM_FILES)
    return {name: by_path[str(CERTS_DIR / name)] for name in PEM_FILES}


def test_fixtures_are_there():
    assert {"client.pem", "hostile-crlf.pem", "unicode.pem", "multi-rdn.pem"} <= set(PEM_FILES)


@pytest.mark.parametrize("name", PEM_FILES)
def test_aws_sample_subject_matches_node(certprop, node_subjects, name, tmp_path):
    want = node_subjects[name]
    run, out = certprop.headers(CERTS_DIR / name, CONFIG, tmp_path, "--now", NOW)
    assert run.returncode == 0, run.describe()
    if want is None:
        # Node has no subject string for an empty subject (the sample itself would throw).
        # certprop must not invent one: an empty value, no header, or a denial.
        if out["decision"] == "allow":
            assert out["headers"].get("x-client-cert-sub", "") == "", out
        return
    assert out["decision"] == "allow", f"{name}: {out}; node says {want!r}"
    assert out["headers"]["x-client-cert-sub"] == want


@pytest.mark.filterwarnings("ignore:Attribute's length:UserWarning")
def test_aws_sample_matches_node_on_random_subjects(certprop, tmp_path):
    made = write_random_certificates(tmp_path, RANDOM_SEED, RANDOM_COUNT)
    node = node_subject_strings(path for path, _ in made)
    config_file = write_config(tmp_path, CONFIG)

    def run(path):
        return certprop.run("headers", "--config", config_file, "--now", NOW, path)

    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = list(pool.map(run, [path for path, _ in made]))

    failures = []
    for (path, _), result in zip(made, runs):
        want = node[str(path)]
        if result.returncode != 0:
            failures.append(f"{path.name}: {result.describe()}")
            continue
        out = json.loads(result.stdout)
        if want is None:
            if out["decision"] == "allow" and out["headers"].get("x-client-cert-sub", ""):
                failures.append(f"{path.name}: node has no subject, ours {out}")
        elif not safe_as_header(want):
            if out != {"decision": "deny", "reason": "unsafe_header_value"}:
                failures.append(f"{path.name}: node {want!r} is unsafe as a header; ours {out}")
        elif out.get("headers", {}).get("x-client-cert-sub") != want:
            failures.append(f"{path.name}: node {want!r}; ours {out}")
    assert not failures, f"{len(failures)} of {len(made)} differ:\n" + "\n".join(failures[:20])
