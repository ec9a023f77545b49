"""Shared fixtures for the oracle tests: where the repo is, and how to run the CLI.

The tests run the built `certprop` binary. Its path comes from the environment variable
CERTPROP_BIN (default `target/release/certprop`); a relative path is taken from the repo root.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CERTS_DIR = REPO_ROOT / "certs"

# Generous: a run takes milliseconds; this only stops a hung process.
RUN_TIMEOUT_SECONDS = 60

_config_numbers = itertools.count()

# Lines the oracle tests report (outcome counts), printed at the end of the pytest run.
_summary_lines: list[str] = []


@dataclass
class Run:
    """The outcome of one certprop process."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def json(self):
        """stdout as JSON, after checking that the run succeeded."""
        assert self.returncode == 0, (
            f"certprop {' '.join(self.args)} exited {self.returncode}: "
            f"{self.stderr!r}"
        )
        return json.loads(self.stdout)

    def describe(self) -> str:
        return (
            f"certprop {' '.join(self.args)} -> exit {self.returncode}, "
            f"stdout {self.stdout[:300]!r}, stderr {self.stderr[:300]!r}"
        )


class Certprop:
    """Runs the certprop binary."""

    def __init__(self, path: Path):
        self.path = path

    def run(self, *args: str | os.PathLike) -> Run:
        argv = [str(a) for a in args]
        try:
            proc = subprocess.run(
                [str(self.path), *argv],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=RUN_TIMEOUT_SECONDS,
                cwd=REPO_ROOT,
            )
        except subprocess.TimeoutExpired:
            return Run(argv, -999, "", "timed out")
        # Output must be UTF-8; `replace` keeps a bad byte visible as U+FFFD
        # instead of raising inside a worker thread.
        return Run(
            argv,
            proc.returncode,
            proc.stdout.decode("utf-8", errors="replace"),
            proc.stderr.decode("utf-8", errors="replace"),
        )

    def inspect(self, path: str | os.PathLike, *extra: str) -> Run:
        return self.run("inspect", *extra, path)

    def headers(self, path, config: dict | None, folder: Path, *extra: str):
        """Run `certprop headers` with `config` (written to a file in `folder`).

        Returns the Run and its JSON output (None unless the exit status is 0).
        """
        args: list[str | os.PathLike] = ["headers"]
        if config is not None:
            args += ["--config", write_config(folder, config)]
        run = self.run(*args, *extra, path)
        return run, (json.loads(run.stdout) if run.returncode == 0 else None)


def write_config(folder: Path, config: dict) -> Path:
    """Write a certprop config to a new file in `folder`."""
    path = folder / f"config-{next(_config_numbers)}.json"
    path.write_text(json.dumps(config))
    return path


def certprop_path() -> Path:
    path = Path(os.environ.get("CERTPROP_BIN", "target/release/certprop"))
    if not path.is_absolute():
        path = REPO_ROOT / path
    return path


@pytest.fixture(scope="session")
def certprop() -> Certprop:
    path = certprop_path()
    if not path.is_file():
        pytest.fail(
            f"certprop binary not found at {path}: run "
            "`cargo build --release --bin certprop` (or set CERTPROP_BIN)",
            pytrace=False,
        )
    return Certprop(path)


@pytest.fixture(scope="session")
def certs_dir() -> Path:
    return CERTS_DIR


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def report_line():
    """Call with a line to print in pytest's closing summary (even when the test passes)."""
    return _summary_lines.append


def pytest_terminal_summary(terminalreporter):
    if _summary_lines:
        terminalreporter.section("certprop oracle")
        for line in _summary_lines:
            terminalreporter.write_line(line)
