"""Consent, identity and visibility at dispatch time, against the DMP simulator over HTTP (both backends)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from dcc.adapters.db import models as m
from dcc.domain.ports import Submission, SubmitOutcome
from dcc.errors import Conflict
from dcc.services import consent
from dcc.services.audit import verify_chain
from dcc.services.delivery import REASON_INS, REASON_OPPOSITION, RetryPolicy, dispatch_pending
from dcc.services.uow import Database
from dcc.simulator.app import create_app
from dcc.simulator.server import RunningServer, start_in_thread
from tests.services.delivery_worker import (
    DESTINATION,
    attempts,
    documents,
    make_documents,
    outbox,
    seed_cases,
    transport,
)

FAST = RetryPolicy(max_attempts=10, base_s=0.01, max_s=0.05, lease_s=30)
NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[RunningServer]:
    # trusts the demo CA each test's sender identity creates under tmp_path
    with start_in_thread(create_app(trust_store=tmp_path), log_level="critical") as server:
        yield server


def state(server: RunningServer) -> dict[str, dict]:
    return {d["unique_id"]: d for d in httpx.get(f"{server.url}/_state", timeout=10).json()}


class Updating:
    """A transport plus recorded metadata updates (to check what the dispatcher asks for)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.updates: list[tuple[str, str, bool]] = []

    def submit(self, submission: Submission) -> SubmitOutcome:
        return self.inner.submit(submission)

    def update_visibility(self, unique_id: str, visible: bool) -> SubmitOutcome:
        self.updates.append(("visibility", unique_id, visible))
        return SubmitOutcome(status_code=200, excerpt="ok")

    def update_masking(self, unique_id: str, masked: bool) -> SubmitOutcome:
        self.updates.append(("masking", unique_id, masked))
        return SubmitOutcome(status_code=200, excerpt="ok")

    def update_legal_representatives_visibility(self, unique_id: str, hidden: bool) -> SubmitOutcome:
        self.updates.append(("legal_representatives", unique_id, hidden))
        return SubmitOutcome(status_code=200, excerpt="ok")

    def close(self) -> None:
        self.inner.close()


class SubmitOnly:
    """A transport that can only submit (no metadata update): the updates are held with their reason."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def submit(self, submission: Submission) -> SubmitOutcome:
        return self.inner.submit(submission)

    def close(self) -> None:
        self.inner.close()


def two_patients(db: Database) -> tuple[list[str], list[str], str, str]:
    """Two documents for each of two patients; returns (docs of p1, docs of p2, p1, p2)."""
    cases = seed_cases(db, patients=2)
    ids = make_documents(db, 4, case_ids=cases)
    with db.uow() as uow:
        by_doc = {d: uow.session.get(m.Document, d).patient_id for d in ids}  # type: ignore[union-attr]
    p1, p2 = by_doc[ids[0]], by_doc[ids[1]]
    return [d for d in ids if by_doc[d] == p1], [d for d in ids if by_doc[d] == p2], p1, p2


def run(db: Database, sender: Any, **options: Any) -> Any:
    return dispatch_pending(db, transports={DESTINATION: sender}, policy=FAST, max_seconds=30, **options)


def msgs_of(db: Database, doc_ids: list[str], kind: str = "submit") -> list[m.OutboxMessage]:
    return [o for o in outbox(db) if o.document_id in doc_ids and o.kind == kind]


def unique_ids(db: Database, doc_ids: list[str]) -> set[str]:
    return {d.unique_id for d in documents(db) if d.id in doc_ids}


def test_opposition_blocks_for_good_with_the_reason_shown(database: Database, sim: RunningServer,
                                                          tmp_path: Path) -> None:
    docs1, docs2, p1, _ = two_patients(database)
    with database.uow() as uow:
        assert consent.record_opposition(uow, patient_id=p1, actor="sec.test", reason="refus exprimé") == 2
    sender = transport(f"{sim.url}/xds/iti41", tmp_path / "id")
    stats = run(database, sender)
    sender.close()
    assert stats.delivered == 2
    blocked = msgs_of(database, docs1)
    assert all(o.state == "blocked" and o.attempts == 0 for o in blocked)
    assert all(o.hold_reason.startswith(REASON_OPPOSITION) and "refus exprimé" in o.last_error for o in blocked)
    assert not [a for a in attempts(database) if a.message_id in {o.id for o in blocked}]  # never sent
    assert set(state(sim)) == unique_ids(database, docs2)
    with database.uow() as uow:
        actions = [e.action for e in uow.session.scalars(select(m.AuditEvent).where(m.AuditEvent.patient_id == p1))]
        assert "patient.dmp_opposition" in actions and actions.count("delivery.block") == 2
        assert verify_chain(uow) == []


def test_opposition_recorded_while_a_message_is_claimed_is_honoured(database: Database, sim: RunningServer,
                                                                    tmp_path: Path) -> None:
    docs1, docs2, p1, _ = two_patients(database)
    first = {"done": False}

    def probe(point: str, _msg_id: str) -> None:
        if point == "after_claim" and not first["done"]:  # the batch is leased: the opposition arrives now
            first["done"] = True
            with database.uow() as uow:
                consent.record_opposition(uow, patient_id=p1, actor="sec.test")

    sender = transport(f"{sim.url}/xds/iti41", tmp_path / "id")
    stats = dispatch_pending(database, transports={DESTINATION: sender}, policy=FAST, probe=probe)
    sender.close()
    assert stats.blocked == 2 and stats.delivered == 2
    assert all(o.state == "blocked" for o in msgs_of(database, docs1))
    assert set(state(sim)) == unique_ids(database, docs2)


def test_lifting_the_opposition_releases_the_documents(database: Database, sim: RunningServer,
                                                       tmp_path: Path) -> None:
    docs1, _, p1, _ = two_patients(database)
    with database.uow() as uow:
        consent.record_opposition(uow, patient_id=p1, actor="sec.test")
    sender = transport(f"{sim.url}/xds/iti41", tmp_path / "id")
    run(database, sender)
    with database.uow() as uow:
        assert consent.record_opposition(uow, patient_id=p1, actor="sec.test", opposed=False) == 2
    run(database, sender)
    sender.close()
    assert all(o.state == "delivered" and o.hold_reason == "" for o in msgs_of(database, docs1))
    assert unique_ids(database, docs1) <= set(state(sim))


def test_unqualified_identity_holds_until_qualified(database: Database, sim: RunningServer,
                                                   tmp_path: Path) -> None:
    docs1, docs2, p1, p2 = two_patients(database)
    with database.uow() as uow:
        for pid in (p1, p2):
            uow.session.get(m.Patient, pid).ins_qualified = False  # type: ignore[union-attr]
        uow.commit()
    sender = transport(f"{sim.url}/xds/iti41", tmp_path / "id")
    stats = run(database, sender)
    assert stats.held == 4 and stats.delivered == 0 and state(sim) == {}
    held = msgs_of(database, docs1 + docs2)
    assert all(o.state == "held" and o.hold_reason == REASON_INS == o.last_error for o in held)
    assert run(database, sender).delivered == 0  # re-checked on each pass: still held
    # qualified through the service: released at once
    with database.uow() as uow:
        assert consent.qualify_identity(uow, p1, "idv.test") == 2
    assert all(o.state == "pending" for o in msgs_of(database, docs1))
    assert run(database, sender).delivered == 2
    # qualified by another path (identity server import): the next dispatch pass releases the messages
    with database.uow() as uow:
        uow.session.get(m.Patient, p2).ins_qualified = True  # type: ignore[union-attr]
        uow.commit()
    stats = run(database, sender)
    sender.close()
    assert stats.released == 2 and stats.delivered == 2
    assert all(o.state == "delivered" and o.hold_reason == "" for o in outbox(database))
    assert set(state(sim)) == unique_ids(database, docs1 + docs2)


def test_invisible_until_announced_then_metadata_update_without_resubmission(database: Database,
                                                                            sim: RunningServer,
                                                                            tmp_path: Path) -> None:
    ids = make_documents(database, 2)
    xds = transport(f"{sim.url}/xds/iti41", tmp_path / "id", database)
    run(database, xds)
    stored = state(sim)
    assert all(not s["visible_to_patient"] and "INVISIBLE_PATIENT" in s["confidentiality"]
               for s in stored.values())
    with database.uow() as uow:
        update_ids = consent.record_announcement(uow, document_id=ids[0], when=NOW, actor="ide.test")
    with database.uow() as uow:
        assert consent.record_announcement(uow, document_id=ids[0], when=NOW, actor="ide.test") == []  # idempotent
    assert len(update_ids) == 1
    (doc,) = [d for d in documents(database) if d.id == ids[0]]
    assert doc.announced_at == NOW
    # ITI-57 over HTTP: the same uniqueId becomes visible to the patient, nothing is resubmitted
    stats = run(database, xds)
    xds.close()
    assert stats.delivered == 1 and stats.metadata_updates == 1
    (upd,) = msgs_of(database, [ids[0]], "metadata_update")
    (sub,) = msgs_of(database, [ids[0]])
    assert upd.state == "delivered" and sub.confidentiality == ""  # the record now holds: visible
    after = state(sim)
    assert after[doc.unique_id]["visible_to_patient"] and "INVISIBLE_PATIENT" not in after[doc.unique_id][
        "confidentiality"]
    other = next(uid for uid in after if uid != doc.unique_id)
    assert not after[other]["visible_to_patient"]  # the other document is untouched
    assert all(s["submissions"] == 1 for s in after.values())  # no resubmission
    with database.uow() as uow:
        actions = [e.action for e in uow.session.scalars(select(m.AuditEvent).where(m.AuditEvent.entity_id == doc.id))]
    assert "document.announce" in actions and "document.metadata_update" in actions


def test_a_transport_without_metadata_update_holds_the_update_with_its_reason(database: Database,
                                                                              sim: RunningServer,
                                                                              tmp_path: Path) -> None:
    ids = make_documents(database, 1)
    plain = SubmitOnly(transport(f"{sim.url}/xds/iti41", tmp_path / "id"))
    run(database, plain)
    with database.uow() as uow:
        consent.record_announcement(uow, document_id=ids[0], when=NOW, actor="ide.test")
    stats = run(database, plain)
    (upd,) = msgs_of(database, [ids[0]], "metadata_update")
    assert stats.held == 1 and upd.state == "held" and "n'est pas prise en charge" in upd.hold_reason
    updating = Updating(plain)  # a transport that can update metadata: the held update goes on the next pass
    stats = run(database, updating)
    plain.close()
    assert stats.released == 1 and stats.delivered == 1 and stats.metadata_updates == 1
    (doc,) = [d for d in documents(database) if d.id == ids[0]]
    assert updating.updates == [("visibility", doc.unique_id, True)]


def test_announced_before_sending_goes_visible_and_needs_no_update(database: Database, sim: RunningServer,
                                                                  tmp_path: Path) -> None:
    ids = make_documents(database, 1)
    with database.uow() as uow:
        consent.record_announcement(uow, document_id=ids[0], when=NOW, actor="ide.test")
    updating = Updating(transport(f"{sim.url}/xds/iti41", tmp_path / "id"))
    run(database, updating)
    updating.close()
    (stored,) = state(sim).values()
    assert stored["visible_to_patient"] and stored["confidentiality"] == ["N"]
    assert updating.updates == []  # the submission carried the visibility
    (upd,) = msgs_of(database, ids, "metadata_update")
    assert upd.state == "delivered" and "déjà à jour" in upd.last_error


def test_masking_from_professionals(database: Database, sim: RunningServer, tmp_path: Path) -> None:
    ids = make_documents(database, 2)
    with database.uow() as uow:
        consent.record_masking(uow, document_id=ids[0], actor="sec.test")  # before sending
    updating = Updating(transport(f"{sim.url}/xds/iti41", tmp_path / "id"))
    run(database, updating)
    by_uid = state(sim)
    docs = {d.id: d for d in documents(database)}
    assert "MASQUE_PS" in by_uid[docs[ids[0]].unique_id]["confidentiality"]
    assert "MASQUE_PS" not in by_uid[docs[ids[1]].unique_id]["confidentiality"]
    assert updating.updates == []
    with database.uow() as uow:  # after sending: a metadata update
        assert len(consent.record_masking(uow, document_id=ids[1], actor="sec.test")) == 1
    with database.uow() as uow:
        assert consent.record_masking(uow, document_id=ids[1], actor="sec.test") == []  # nothing changes
    run(database, updating)
    updating.close()
    assert updating.updates == [("masking", docs[ids[1]].unique_id, True)]
    assert all(s["submissions"] == 1 for s in state(sim).values())


def test_masking_or_announcing_a_draft_is_refused(database: Database) -> None:
    ids = make_documents(database, 1)
    with database.uow() as uow:  # a draft of the same case (a signed document never becomes a draft again)
        signed = uow.session.get(m.Document, ids[0])
        assert signed is not None
        draft = m.Document(case_id=signed.case_id, patient_id=signed.patient_id, kind=signed.kind,
                           set_id=signed.set_id + ".9", version=1, unique_id=signed.unique_id + ".9",
                           cda=signed.cda, pdf=signed.pdf, sha256=signed.sha256, pdf_sha256=signed.pdf_sha256,
                           status="draft", template_version="test", signer_id=signed.signer_id)
        uow.session.add(draft)
        uow.commit()
        draft_id = draft.id
    with database.uow() as uow, pytest.raises(Conflict):
        consent.record_masking(uow, document_id=draft_id, actor="sec.test")
    with database.uow() as uow, pytest.raises(Conflict):
        consent.record_announcement(uow, document_id=draft_id, when=datetime.now(UTC), actor="sec.test")


def test_metadata_update_waits_for_the_submission(database: Database, sim: RunningServer, tmp_path: Path) -> None:
    """Announced after a first, failed attempt that froze INVISIBLE_PATIENT: the retry resends the same
    codes (byte-identical request content), then the update makes it visible."""
    ids = make_documents(database, 1)
    httpx.post(f"{sim.url}/_faults", content="fail=1", timeout=10).raise_for_status()
    updating = Updating(transport(f"{sim.url}/xds/iti41", tmp_path / "id"))
    slow = RetryPolicy(max_attempts=10, base_s=1.0, max_s=1.0, lease_s=30)  # no retry within this pass
    dispatch_pending(database, transports={DESTINATION: updating}, policy=slow, until_idle=False)
    (sub,) = msgs_of(database, ids)
    assert sub.state == "pending" and sub.attempts >= 1 and sub.confidentiality == "INVISIBLE_PATIENT"
    with database.uow() as uow:
        consent.record_announcement(uow, document_id=ids[0], when=NOW, actor="ide.test")
    httpx.post(f"{sim.url}/_faults", content="", timeout=10).raise_for_status()
    # the retry is due at most 1 s after the first attempt (backoff of 1 s, jittered): the dispatcher runs 1.05 s
    # later on its own clock
    run(database, updating, clock=lambda: datetime.now(UTC) + timedelta(seconds=1.05))
    updating.close()
    (stored,) = state(sim).values()
    assert stored["confidentiality"] == ["N", "INVISIBLE_PATIENT"]  # frozen at the first attempt
    (doc,) = documents(database)
    assert updating.updates == [("visibility", doc.unique_id, True)]
    assert all(o.state == "delivered" for o in outbox(database))
