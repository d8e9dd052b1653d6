"""A minor's secret from their legal representatives (CSP art. L1111-5; DMP integration guide EX_2.1-1050):
recorded on the patient, refused for an adult, sent as INVISIBLE_REPRESENTANTS_LEGAUX with the submission or by
an ITI-57 metadata update, to the DMP simulator over HTTP (both backends)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from dcc.adapters.db import models as m
from dcc.errors import Conflict
from dcc.services import consent
from dcc.services.uow import Database
from dcc.simulator.app import create_app
from dcc.simulator.server import RunningServer, start_in_thread
from tests.services.delivery_worker import documents, transport
from tests.services.test_consent import msgs_of, run, two_patients

CODE = "INVISIBLE_REPRESENTANTS_LEGAUX"
NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[RunningServer]:
    # the simulator trusts the demo CA(s) the test's sender identities create there (read at each request)
    with start_in_thread(create_app(trust_store=tmp_path / "id"), log_level="critical") as server:
        yield server


def state(server: RunningServer) -> dict[str, dict]:
    return {d["unique_id"]: d for d in httpx.get(f"{server.url}/_state", timeout=10).json()}


def born(db: Database, patient_id: str, birth: date) -> None:
    with db.uow() as uow:
        patient = uow.session.get(m.Patient, patient_id)
        assert patient is not None
        patient.birth_date = birth
        uow.commit()


def test_the_secret_recorded_before_sending_goes_with_the_submission(database: Database, sim: RunningServer,
                                                                     tmp_path: Path) -> None:
    docs1, docs2, p1, _ = two_patients(database)
    born(database, p1, date(2012, 6, 1))  # 13 on NOW
    with database.uow() as uow:
        consent.record_minor_secret(uow, patient_id=p1, actor="med.test", now=NOW)
    xds = transport(f"{sim.url}/xds/iti41", tmp_path / "id", database)
    run(database, xds)
    xds.close()
    stored = state(sim)
    uids1, uids2 = ({d.unique_id for d in documents(database) if d.id in ids} for ids in (docs1, docs2))
    assert all(CODE in stored[u]["confidentiality"] for u in uids1)
    assert not any(CODE in stored[u]["confidentiality"] for u in uids2)  # the other patient is untouched
    with database.uow() as uow:
        actions = [e.action for e in uow.session.scalars(select(m.AuditEvent).where(m.AuditEvent.entity_id == p1))]
    assert "patient.minor_secret" in actions


def test_the_secret_recorded_after_sending_is_an_iti57_update_and_can_be_lifted(
        database: Database, sim: RunningServer, tmp_path: Path) -> None:
    docs1, _, p1, _ = two_patients(database)
    born(database, p1, date(2010, 1, 15))  # 16 on NOW
    xds = transport(f"{sim.url}/xds/iti41", tmp_path / "id", database)
    run(database, xds)
    uids = {d.unique_id for d in documents(database) if d.id in docs1}
    assert not any(CODE in state(sim)[u]["confidentiality"] for u in uids)
    with database.uow() as uow:
        assert len(consent.record_minor_secret(uow, patient_id=p1, actor="med.test", now=NOW)) == len(docs1)
    with database.uow() as uow:  # nothing changes: nothing queued
        assert consent.record_minor_secret(uow, patient_id=p1, actor="med.test", now=NOW) == []
    stats = run(database, xds)
    assert stats.metadata_updates == len(docs1)
    after = state(sim)
    assert all(CODE in after[u]["confidentiality"] and after[u]["submissions"] == 1 for u in uids)
    assert all(s.confidentiality is not None and CODE in s.confidentiality for s in msgs_of(database, docs1))
    with database.uow() as uow:
        consent.record_minor_secret(uow, patient_id=p1, actor="med.test", secret=False, now=NOW)
    run(database, xds)
    xds.close()
    assert not any(CODE in state(sim)[u]["confidentiality"] for u in uids)


def test_an_adult_patient_cannot_be_hidden_from_legal_representatives(database: Database) -> None:
    docs1, _, p1, _ = two_patients(database)
    born(database, p1, date(2008, 3, 10))  # 18 on NOW (Paris date): an adult
    before = len(msgs_of(database, docs1, "metadata_update"))
    with database.uow() as uow, pytest.raises(Conflict, match="majeur"):
        consent.record_minor_secret(uow, patient_id=p1, actor="med.test", now=NOW)
    with database.uow() as uow:
        patient = uow.session.get(m.Patient, p1)
        assert patient is not None and patient.secret_from_legal_representatives is False
    assert len(msgs_of(database, docs1, "metadata_update")) == before
    born(database, p1, date(2008, 3, 11))  # 18 tomorrow: still a minor today
    with database.uow() as uow:
        consent.record_minor_secret(uow, patient_id=p1, actor="med.test", now=NOW)
