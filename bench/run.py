"""`make bench`: measure certprop side by side with the AWS sample's Node logic and write BENCHMARKS.md.

    core benchmarks (criterion)  ─┐
    Node warm loop (same certs)  ─┼─► ratios from this one run ─► BENCHMARKS.md
    .wasm / bootstrap sizes       │
    Envoy RSS, filter vs none     │
    Lambda start (Runtime API)   ─┘

Run from the repository root with the artifacts built (`make bench` builds them first):
target/wasm32-wasip1/release/certprop_filter.wasm, target/release/certprop-authorizer and
sam/.aws-sam/build/AuthorizerFunction/bootstrap. Cargo runs one build at a time, in order.
Nothing here asserts a number: the targets are reported as met or missed.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
WASM = ROOT / "target/wasm32-wasip1/release/certprop_filter.wasm"
BOOTSTRAP = ROOT / "sam/.aws-sam/build/AuthorizerFunction/bootstrap"
CRITERION = ROOT / "target/criterion"
CRITERION_ARGS = ["--warm-up-time", "1", "--measurement-time", "2", "--noplot"]
NODE_LOOP_SECONDS = ("1", "3")  # warm-up, measured
LAMBDA_START_RUNS = "10"
ENVOY_RUNS = 3
KIB, MIB = 1024, 1024 * 1024

BENCH_COMMAND = "cargo bench -p certprop --bench core -- " + " ".join(CRITERION_ARGS)
NODE_COMMAND = "node bench/node-sample-loop.mjs " + " ".join(NODE_LOOP_SECONDS)
START_COMMAND = f"cargo run --release -p certprop-tests --example lambda_start -- {LAMBDA_START_RUNS}"


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def run(command: str) -> str:
    """Runs a command from the repository root; its stdout. Its stderr goes to ours."""
    log(command)
    result = subprocess.run(command, shell=True, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    if result.returncode != 0:
        sys.exit(f"bench: `{command}` failed with status {result.returncode}")
    return result.stdout


# ── 1. core vs the Node sample ────────────────────────────────────────────────────────────────

def criterion_ns(group: str, name: str) -> float:
    """Mean time of one iteration, in nanoseconds, from criterion's estimates of this run."""
    estimates = json.loads((CRITERION / group / name / "new/estimates.json").read_text())
    return estimates["mean"]["point_estimate"]


def core_part() -> dict:
    output = run(BENCH_COMMAND)
    sys.stderr.write(output)
    node = json.loads(run(NODE_COMMAND))
    # The core benchmark takes the .pem files that certprop parses, Node the ones X509Certificate
    # reads: they must be the same files, or the per-certificate figures would not compare.
    line = next((l for l in output.splitlines() if l.startswith("certificates: ")), "")
    rust_certs = line.removeprefix("certificates: ").split()
    if rust_certs != node["certificates"]:
        sys.exit(f"bench: the core read {rust_certs}, Node {node['certificates']}: not the same certificates")
    count = len(rust_certs)
    return {"node": node, "count": count, "criterion": criterion_output_ns(count)}


def criterion_output_ns(count: int) -> dict:
    rows = {"parse": criterion_ns("parse", "certs") / count}
    for name in ["default", "aws-sample", "rfc9440", "xfcc", "alb", "policy-10-rules"]:
        rows[f"decide {name}"] = criterion_ns("decide", name) / count
    for name in ["default", "aws-sample"]:
        rows[f"parse + decide {name}"] = criterion_ns("parse_decide", name) / count
    rows["parse client.pem alone"] = criterion_ns("parse", "client.pem")
    return rows


# ── 3. size and memory ────────────────────────────────────────────────────────────────────────

def stripped_size(path: Path) -> tuple[int, str]:
    """Size of `path` with its symbols stripped (a stripped copy if the file still has them)."""
    described = subprocess.run(["file", "-b", str(path)], capture_output=True, text=True).stdout.strip() if shutil.which("file") else ""
    if ", stripped" in described:
        return path.stat().st_size, "stripped as built"
    strip = shutil.which("llvm-strip")
    if not strip:
        return path.stat().st_size, "as built (no llvm-strip to strip a copy)"
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "bootstrap"
        shutil.copy(path, copy)
        subprocess.run([strip, str(copy)], check=True)
        return copy.stat().st_size, "a copy stripped with llvm-strip"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def envoy_config(with_filter: bool, listener: int, admin: int) -> dict:
    config = yaml.safe_load((ROOT / "envoy/envoy.yaml").read_text())
    config["admin"]["address"]["socket_address"]["port_value"] = admin
    for entry in config["static_resources"]["listeners"]:
        entry["address"]["socket_address"]["port_value"] = listener
        for chain in entry["filter_chains"]:
            for network_filter in chain["filters"]:
                manager = network_filter["typed_config"]
                if not with_filter:
                    manager["http_filters"] = [f for f in manager["http_filters"] if f["name"] != "certprop"]
    return config


def envoy_rss_kib(envoy: str, with_filter: bool) -> int:
    """VmRSS of Envoy (--concurrency 1) after it is ready and has served 20 mTLS requests."""
    listener, admin = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "envoy.yaml"
        path.write_text(yaml.safe_dump(envoy_config(with_filter, listener, admin)))
        errors = open(Path(tmp) / "envoy.log", "w+")
        process = subprocess.Popen(
            [envoy, "-c", str(path), "--concurrency", "1", "--log-level", "error", "--base-id", str(admin)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=errors,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    errors.seek(0)
                    sys.exit(f"bench: envoy exited with {process.returncode}:\n{errors.read()}")
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{admin}/ready", timeout=1) as answer:
                        if answer.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    sys.exit("bench: envoy was not ready within 60 s")
                time.sleep(0.1)
            url = f"https://localhost:{listener}/"
            curl = ["curl", "-s", "-o", "/dev/null", "--max-time", "10", "--cacert", "certs/ca.pem",
                    "--cert", "certs/client.pem", "--key", "certs/client.key",
                    "--resolve", f"localhost:{listener}:127.0.0.1"]
            for _ in range(20):
                subprocess.run(curl + [url], cwd=ROOT, check=False)
            time.sleep(0.5)
            status = Path(f"/proc/{process.pid}/status").read_text()
            return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            errors.close()


def size_part() -> dict:
    bootstrap_size, bootstrap_how = stripped_size(BOOTSTRAP)
    envoy = shutil.which("envoy", path=str(ROOT / ".venv/bin"))
    rss = None
    if envoy and shutil.which("curl"):
        log("Envoy RSS with and without the filter")
        without, with_filter = [], []
        for _ in range(ENVOY_RUNS):
            without.append(envoy_rss_kib(envoy, False))
            with_filter.append(envoy_rss_kib(envoy, True))
        rss = {"without": statistics.median(without), "with": statistics.median(with_filter),
               "runs_without": without, "runs_with": with_filter}
    return {"wasm": WASM.stat().st_size, "bootstrap": bootstrap_size, "bootstrap_how": bootstrap_how,
            "bootstrap_file": subprocess.run(["file", "-b", str(BOOTSTRAP)], capture_output=True, text=True).stdout.strip()
            if shutil.which("file") else "", "rss": rss}


# ── 4. Lambda start ───────────────────────────────────────────────────────────────────────────

def start_part() -> dict:
    return json.loads(run(START_COMMAND))


# ── BENCHMARKS.md ─────────────────────────────────────────────────────────────────────────────

def met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def report(core: dict, size: dict, start: dict) -> str:
    node = core["node"]
    rows = core["criterion"]
    node_us = node["us_per_certificate"]
    headline = rows["parse + decide aws-sample"] / 1e3
    ratio = node_us / headline
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.machine())
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`bench/run.py`); do not edit by hand. Every ratio compares figures",
        "measured in the same run on the same machine. Absolute numbers are context only: they move with",
        "the machine and its load.",
        "",
        f"- run: {datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')}",
        f"- machine: {os.cpu_count()} cores ({cpu}), {platform.system()} {platform.machine()}",
        f"- Node: {node['node']}",
        "",
        "## 1. Core: parse and decide vs the AWS sample's logic in Node",
        "",
        "Commands:",
        "",
        f"- `{BENCH_COMMAND}` (core/benches/core.rs)",
        f"- `{NODE_COMMAND}`",
        "",
        f"Both run over the same {core['count']} certificates, the `.pem` files under `certs/` that parse:",
        f"{', '.join(node['certificates'])}.",
        "Core: criterion's mean time for one pass over all of them, divided by their number.",
        "Node: the handler of `tests/node/aws-sample-authorizer.mjs` (X509Certificate,",
        "subject with commas, Allow policy) on a REST API event per certificate, in a warm loop.",
        "`decide` runs at a fixed instant, so expired.pem and not-yet-valid.pem are denied after the validity",
        "check and render no header; the sample throws on spiffe.pem (no subject).",
        "",
        "| what | µs per certificate | Node sample ÷ this |",
        "|---|---:|---:|",
    ]
    for name, ns in rows.items():
        if name == "parse client.pem alone":
            continue
        lines.append(f"| {name} | {ns / 1e3:.2f} | {node_us / (ns / 1e3):.0f}× |")
    lines += [
        f"| Node sample handler | {node_us:.2f} | 1× |",
        "",
        f"For context: `parse` of certs/client.pem alone takes {rows['parse client.pem alone'] / 1e3:.2f} µs"
        " (huge-subject.pem, 10 KB of PEM, weighs on the mean).",
        "",
        f"Target: parse + decide ≥ 50× faster per certificate than the Node sample: {ratio:.0f}× "
        f"(parse + decide aws-sample) — {met(ratio >= 50)}.",
        "",
        "## 2. Envoy under load",
        "",
        "Not measured yet (oha against Envoy with and without the filter comes later).",
        "",
        "## 3. Size and memory",
        "",
        "| artifact | size | target |",
        "|---|---:|---|",
        f"| `{WASM.relative_to(ROOT)}` (`make wasm`) | {size['wasm']:,} bytes = {size['wasm'] / KIB:.0f} KiB |"
        f" ≤ 300 KiB: {met(size['wasm'] <= 300 * KIB)} |",
        f"| `{BOOTSTRAP.relative_to(ROOT)}` (`make lambda`, arm64, {size['bootstrap_how']}) |"
        f" {size['bootstrap']:,} bytes = {size['bootstrap'] / MIB:.2f} MiB | ≤ 2 MiB: {met(size['bootstrap'] <= 2 * MIB)} |",
        "",
    ]
    if size["bootstrap_file"]:
        lines += [f"`file`: {size['bootstrap_file']}", ""]
    rss = size["rss"]
    if rss:
        lines += [
            f"Envoy RSS (`envoy/envoy.yaml` on free ports, `--concurrency 1`, VmRSS after ready and 20 mTLS",
            f"requests with certs/client.pem; no backend runs, so they end in 503 after the filter; median of {ENVOY_RUNS}):",
            "",
            "| Envoy | RSS | with ÷ without |",
            "|---|---:|---:|",
            f"| without the filter | {rss['without'] / KIB:.1f} MiB | 1.00 |",
            f"| with certprop_filter.wasm | {rss['with'] / KIB:.1f} MiB | {rss['with'] / rss['without']:.2f} |",
            "",
            f"Runs (KiB): without {rss['runs_without']}, with {rss['runs_with']}.",
            "",
        ]
    else:
        lines += ["Envoy RSS: not measured yet (no Envoy in `.venv` or no curl).", ""]
    rust, nodejs = start["certprop_authorizer"], start["node_sample"]
    start_ratio = nodejs["first_response_ms"]["median"] / rust["first_response_ms"]["median"]
    runs = start["runs"]

    def ms(figures: dict) -> str:
        if figures["median"] is None:
            return "not seen"
        seen = len(figures["runs"])
        return f"{figures['median']:.1f} ms" + ("" if seen == runs else f" ({seen} of {runs} runs)")

    medians = (nodejs["first_request_ms"]["median"], rust["first_request_ms"]["median"])
    request_ratio = f"{medians[0] / medians[1]:.0f}×" if None not in medians else "n/a"
    lines += [
        "## 4. Lambda start",
        "",
        f"Command: `{START_COMMAND}` (tests/examples/lambda_start.rs).",
        "",
        "Each run spawns the function",
        "fresh against a local Runtime API (`tests/src/runtime_api.rs`) with one event waiting (a REST API",
        f"event with certs/client.pem, config `{start['config']}`); the two runtimes alternate, {start['runs']} runs each.",
        "certprop: `target/release/certprop-authorizer` (the host's architecture). Node: `node",
        "bench/node-runtime.mjs`, a minimal runtime loop around the sample's handler. Both answered",
        f"principalId `{start['principal_id']}`. Medians; the first request is seen by polling every 50 µs.",
        "",
        "| runtime | spawn → first request to the API | spawn → first response |",
        "|---|---:|---:|",
        f"| certprop-authorizer | {ms(rust['first_request_ms'])} | {ms(rust['first_response_ms'])} |",
        f"| node + sample handler | {ms(nodejs['first_request_ms'])} | {ms(nodejs['first_response_ms'])} |",
        f"| Node ÷ certprop | {request_ratio} | {start_ratio:.0f}× |",
        "",
        f"Target: start to first response ≥ 20× faster than Node: {start_ratio:.0f}× — {met(start_ratio >= 20)}.",
        "",
        "Not measured here: a real Lambda cold start (download, sandbox, the arm64 `bootstrap` on Graviton).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    os.chdir(ROOT)
    core = core_part()
    size = size_part()
    start = start_part()
    text = report(core, size, start)
    (ROOT / "BENCHMARKS.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
