"""Shared set-ups of this folder: the browser every browser test drives (Debian's Chromium through Playwright,
one per module), and one `dcc demo` run with injected national-record faults that several tests inspect."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
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


FAULTY_DEMO_PATIENTS = 12


@pytest.fixture(scope="session")
def faulty_demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """`dcc demo` as production runs it (JSON logs at DEBUG, Prefect's lines in JSON too) against a national
    record that fails 30% of the requests and drops 10% of the answers after committing, every request
    dumped (`--dmp-dump`). One run for the session: the fault (test_demo.py), MHD (test_demo_mhd.py) and
    log-privacy (test_logs_privacy.py) tests only read what it left behind, each asserting its own points."""
    root = tmp_path_factory.mktemp("faulty-demo")
    out, dump, var = root / "out", root / "dump", root / "var"
    env = {**os.environ, "DCC_VAR_DIR": str(var), "DCC_DATABASE_URL": "", "DCC_LOG_FORMAT": "json",
           "DCC_LOG_LEVEL": "DEBUG", "PREFECT_LOGGING_LEVEL": "INFO",
           "PREFECT_LOGGING_HANDLERS_CONSOLE_FORMATTER": "json",  # as deploy/dcc.env.example
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300"}
    proc = subprocess.run([sys.executable, "-m", "dcc.cli", "demo", "--seed", "3", "--patients",
                           str(FAULTY_DEMO_PATIENTS), "--out", str(out), "--json", "--reset",
                           "--dmp-faults", "fail=0.3,drop_after_commit=0.1,seed=5", "--dmp-dump", str(dump)],
                          capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return DemoRun(summary=json.loads(proc.stdout), stderr=proc.stderr, out=out, dump=dump, var=var,
                   patients=FAULTY_DEMO_PATIENTS)
