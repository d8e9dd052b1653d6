"""Backup drill (issue 14): a small demo on a fresh PostgreSQL database, `pg_dump` → `pg_restore` into another
fresh database with the machine's PostgreSQL client binaries, then on the restore: the app starts and answers,
every stored document's SHA-256 matches its bytes and the original's, `dcc audit verify` passes, and the outbox
agrees with the national-record simulator's state as the demo left it (the simulator keeps its store in
memory: its state is the demo summary's `national_record`, taken before the dump).

PostgreSQL is required, not optional: DCC_TEST_DATABASE_URL, else the CI's server at 127.0.0.1:5432. The
databases created here are dropped at the end."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import URL, make_url

from dcc.adapters.db import models as m
from dcc.adapters.db.engine import make_engine
from dcc.services.uow import Database

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PG_URL = os.environ.get("DCC_TEST_DATABASE_URL") or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DCC = [sys.executable, "-m", "dcc.cli"]


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not installed (Debian: apt-get install postgresql-client)"
    return path


def _libpq(url: URL) -> str:
    """The URL as libpq (pg_dump, pg_restore) reads it."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def databases() -> Iterator[tuple[URL, URL]]:
    base = make_url(PG_URL)
    names = [f"dcc_drill_{tag}_{uuid.uuid4().hex[:8]}" for tag in ("src", "restore")]
    admin = make_engine(base.set(database="postgres").render_as_string(hide_password=False),
                        isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=names[0]), base.set(database=names[1])
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _dcc(args: list[str], url: URL, var: Path) -> subprocess.CompletedProcess[str]:
    env = {"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300", **os.environ, "DCC_VAR_DIR": str(var),
           "DCC_DATABASE_URL": url.render_as_string(hide_password=False)}
    return subprocess.run([*DCC, *args], capture_output=True, text=True, env=env, timeout=900)


def _snapshot(url: URL) -> dict[str, object]:
    db = Database(url.render_as_string(hide_password=False))
    try:
        with db.uow() as uow:
            docs = {d.id: (d.unique_id, d.sha256, d.pdf_sha256, hashlib.sha256(d.cda).hexdigest(),
                           hashlib.sha256(d.pdf).hexdigest(), d.status)
                    for d in uow.session.scalars(select(m.Document))}
            outbox = sorted((o.id, o.document_id, o.destination, o.kind, o.state)
                            for o in uow.session.scalars(select(m.OutboxMessage)))
            audit = uow.session.scalar(select(func.count()).select_from(m.AuditEvent))
    finally:
        db.dispose()
    return {"docs": docs, "outbox": outbox, "audit": audit}


def test_backup_restore_drill(databases: tuple[URL, URL], tmp_path: Path) -> None:
    source, restore = databases
    var = tmp_path / "var"
    proc = _dcc(["demo", "--seed", "4", "--patients", "6", "--json"], source, var)
    assert proc.returncode == 0, proc.stderr[-4000:]
    summary = json.loads(proc.stdout)
    national = {e["unique_id"]: e["sha256"] for e in summary["national_record"]}
    assert national, "the demo delivered nothing to the national record"
    before = _snapshot(source)

    dump = tmp_path / "dcc.dump"
    subprocess.run([_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={dump}", _libpq(source)],
                   check=True, capture_output=True, timeout=300)
    subprocess.run([_tool("pg_restore"), "--no-owner", "--exit-on-error", f"--dbname={_libpq(restore)}",
                    str(dump)], check=True, capture_output=True, timeout=300)

    # the app starts against the restore (it refuses an unmigrated database) and answers
    from fastapi.testclient import TestClient

    from dcc.web.app import create_app

    restored_db = Database(restore.render_as_string(hide_password=False))
    try:
        with TestClient(create_app(database=restored_db)) as client:
            answer = client.get("/healthz")
            assert answer.status_code == 200, answer.text
    finally:
        restored_db.dispose()

    after = _snapshot(restore)
    assert after == before
    docs = after["docs"]
    assert isinstance(docs, dict) and docs
    for unique_id, cda_sha, pdf_sha, cda_actual, pdf_actual, _ in docs.values():
        assert cda_actual == cda_sha and pdf_actual == pdf_sha, unique_id

    audit = _dcc(["audit", "verify"], restore, var)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "intègre" in audit.stdout

    # the outbox agrees with the simulator: every document the simulator stored has a delivered DMP
    # submission in the restore, with the same CDA hash, and every delivered DMP submission is stored there
    outbox = after["outbox"]
    assert isinstance(outbox, list)
    by_id = {doc_id: row for doc_id, row in docs.items()}
    delivered_dmp = {by_id[doc_id][0]: by_id[doc_id][1] for _, doc_id, dest, kind, state in outbox
                     if dest.startswith("dmp") and kind == "submit" and state == "delivered"}
    assert delivered_dmp == national
    assert sum(1 for *_, state in outbox if state == "delivered") == \
        sum(1 for *_, state in before["outbox"] if state == "delivered")  # type: ignore[union-attr]
