"""The benchmarks' set-up seeds enough patients for the documents asked: `dcc bench documents --n 100`
used to stop with "only 93 documents from 93 decided cases" (one Fiche RCP per decided case, not 1.5)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from dcc.adapters.db import models as m
from dcc.bench.documents import build_cases
from dcc.services.uow import Database


def test_build_cases_gives_as_many_decided_cases_as_documents_asked(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bench.sqlite3'}"
    case_ids = build_cases(url, 100)
    assert len(case_ids) == 100 and len(set(case_ids)) == 100
    db = Database(url)
    try:
        with db.uow() as uow:
            locked = uow.session.scalar(select(func.count()).select_from(m.Decision).where(
                m.Decision.case_id.in_(case_ids), m.Decision.locked.is_(True)))
        assert locked == 100
    finally:
        db.dispose()
