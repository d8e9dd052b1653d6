"""Issue 14 "Logs": a demo run with production JSON logs writes JSON lines carrying correlation ids and
never a demo patient's family name, given name, INS/NIR or birth date (every line of stderr is scanned,
JSON or not: Prefect's own lines too)."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest

from tests.e2e.conftest import DemoRun, read_only

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _identities(db_path: Path) -> list[tuple[str, list[str]]]:
    with read_only(db_path) as conn:
        rows = conn.execute("SELECT id, birth_family, birth_given_all, used_family, used_given, ins_matricule, "
                            "birth_date FROM patient").fetchall()
    out = []
    for pid, family, given_all, used_family, used_given, ins, birth in rows:
        born = date.fromisoformat(str(birth))
        needles = [family, used_family, *given_all.split(), used_given, ins or "",
                   born.isoformat(), born.strftime("%Y%m%d"), born.strftime("%d/%m/%Y")]
        out.append((pid, [n for n in needles if n and len(n) >= 3]))
    return out


def test_demo_json_logs_carry_ids_and_no_patient_identity(demo_run: DemoRun) -> None:
    """The demo run of tests/e2e/conftest.py: production JSON logs at DEBUG, faults injected (so retries log)."""
    lines = [line for line in demo_run.stderr.splitlines() if line.strip()]
    events = []
    for line in lines:
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    # dcc's own lines are JSON and correlated: each delivery attempt names its message and document
    attempts = [e for e in events if e.get("event") == "delivery.attempt"]
    assert attempts, "no delivery.attempt line in the JSON logs"
    assert all(e.get("document_id") and e.get("message_id") and e.get("timestamp") for e in attempts)
    assert any(e.get("flow_run_id") for e in attempts), "delivery lines do not carry the Prefect flow run id"
    identities = _identities(demo_run.var / "dcc.sqlite3")
    assert len(identities) == demo_run.patients
    leaks = []
    for pid, needles in identities:
        for needle in needles:
            pattern = re.compile(rf"(?<![\w]){re.escape(needle)}(?![\w])", re.IGNORECASE)
            leaks += [f"{pid[:8]} {needle!r}: {line[:200]}" for line in lines if pattern.search(line)]
    assert not leaks, "patient identity in the logs:\n" + "\n".join(leaks[:20])
