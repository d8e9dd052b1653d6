"""Shared set-ups of this folder: the browser every browser test drives (Debian's Chromium through Playwright,
one per module), and the one `dcc demo` run (TLS, injected national-record faults, dumps, JSON logs) that the
demo tests inspect."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser_scenario import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture(scope="module")
def chromium_browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass(frozen=True)
class DemoRun:
    """What one `dcc demo` run left behind: its JSON summary (stdout), its stderr, its folders."""

    summary: dict[str, Any]
    stderr: str
    out: Path
    dump: Path
    var: Path
    patients: int
    seed: int


DEMO_SEED = 3
DEMO_PATIENTS = 40


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """One `dcc demo` run for the session, as production runs it (JSON logs at DEBUG, Prefect's lines in JSON
    too), 40 patients in two regions, every CDA and PDF written (`--out`), against a national record served
    over mutual TLS (`--dmp-tls`) that fails 30% of the requests and drops 10% of the answers after committing,
    every request dumped (`--dmp-dump`). The demo's own checks (test_demo.py), MHD (test_demo_mhd.py), XDS
    signatures (test_demo_xds_signatures.py), TLS (test_demo_tls.py) and log privacy (test_logs_privacy.py)
    only read what it left behind, each asserting its own points; a test that changes the database works on a
    copy of `var` (`copy_var`). The plain path (HTTP, no faults) is run by test_demo.py's second run."""
    root = tmp_path_factory.mktemp("demo")
    out, dump, var = root / "out", root / "dump", root / "var"
    env = {**os.environ, "DCC_VAR_DIR": str(var), "DCC_DATABASE_URL": "", "DCC_LOG_FORMAT": "json",
           "DCC_LOG_LEVEL": "DEBUG", "PREFECT_LOGGING_LEVEL": "INFO",
           "PREFECT_LOGGING_HANDLERS_CONSOLE_FORMATTER": "json",  # as deploy/dcc.env.example
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300"}
    proc = subprocess.run([sys.executable, "-m", "dcc.cli", "demo", "--seed", str(DEMO_SEED), "--patients",
                           str(DEMO_PATIENTS), "--out", str(out), "--json", "--reset", "--dmp-tls",
                           "--dmp-faults", "fail=0.3,drop_after_commit=0.1,seed=5", "--dmp-dump", str(dump)],
                          capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    summary = json.loads(proc.stdout)
    assert json.loads((out / "summary.json").read_text()) == summary
    return DemoRun(summary=summary, stderr=proc.stderr, out=out, dump=dump, var=var, patients=DEMO_PATIENTS,
                   seed=DEMO_SEED)


SQLITE_SIDE_FILES = ("*.sqlite3-wal", "*.sqlite3-shm", "*.sqlite3-journal")


def copy_var(run: DemoRun, target: Path) -> Path:
    """A copy of the run's `var` folder (database, PKI) for a test that writes to it. The database is copied
    with SQLite's backup API, not file by file: a reader of the run's database may hold its WAL and shared-memory
    files, which SQLite deletes when the last connection closes (a copy of the folder listing them then failed)."""
    shutil.copytree(run.var, target, ignore=shutil.ignore_patterns(*SQLITE_SIDE_FILES, "*.sqlite3"))
    for source in run.var.rglob("*.sqlite3"):
        with read_only(source) as src, closing(sqlite3.connect(target / source.relative_to(run.var))) as dst:
            src.backup(dst)
    return target


@contextmanager
def read_only(db_path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to a database another test may copy, closed on leaving the block (`sqlite3`'s
    own context manager commits but does not close: a connection left to the garbage collector deletes the
    WAL files whenever it is collected)."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        yield conn
    finally:
        conn.close()
