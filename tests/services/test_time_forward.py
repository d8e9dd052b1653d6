"""Time runs forward for documents: a document is neither created nor authenticated before the meeting it
reports; the signing time is the real time, read when the physician signs; a correction is dated after the
meeting too. (The board acts themselves: tests/services/test_boards.py.)"""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import delete, select

from dcc.adapters.db import models as m
from dcc.bootstrap import cda_builder, pdf_renderer
from dcc.errors import Conflict
from dcc.services.corrections import CorrectionInput, correct_document
from dcc.services.documents import generate_documents, sign_documents

Chain = Any  # tests/services/conftest.py:Chain
NS = {"h": "urn:hl7-org:v3"}


def hl7_instant(value: str) -> datetime:
    """An HL7 TS with its offset (YYYYMMDDHHMMSS+ZZZZ) as an aware datetime."""
    return datetime.strptime(value, "%Y%m%d%H%M%S%z")


def _times(cda: bytes) -> tuple[datetime, datetime, datetime]:
    """(meeting, effectiveTime, legalAuthenticator/time) of a Fiche RCP."""
    root = etree.fromstring(cda)
    meeting = root.xpath("string(h:componentOf/h:encompassingEncounter/h:effectiveTime/h:low/@value)",
                         namespaces=NS)
    created = root.xpath("string(h:effectiveTime/@value)", namespaces=NS)
    signed = root.xpath("string(h:legalAuthenticator/h:time/@value)", namespaces=NS)
    return hl7_instant(meeting), hl7_instant(created), hl7_instant(signed)


def _frcp(chain: Chain) -> m.Document:
    return chain.documents(kind="FRCP")[0]


def _session_of(chain: Chain, case_id: str) -> m.Session:
    with chain.db.uow() as uow:
        decision = uow.session.scalars(select(m.Decision).where(m.Decision.case_id == case_id)).one()
        session = uow.session.get(m.Session, decision.session_id)
        assert session is not None
        uow.session.expunge_all()
        return session


def _move_session(chain: Chain, session_id: str, starts_at: datetime) -> None:
    """The session's start is moved (the meeting has not happened yet at the real time)."""
    with chain.db.uow() as uow:
        session = uow.session.get(m.Session, session_id)
        assert session is not None
        session.starts_at = starts_at
        uow.commit()


def test_generation_is_refused_before_the_meeting_and_writes_nothing(chain: Chain) -> None:
    doc = _frcp(chain)
    session = _session_of(chain, doc.case_id)
    with chain.db.uow() as uow:  # back to "decided, no documents yet"
        uow.session.execute(delete(m.Document).where(m.Document.case_id == doc.case_id))
        uow.commit()
    with chain.db.uow() as uow:
        result = generate_documents(uow, case_ids=[doc.case_id], cda=cda_builder(), pdf=pdf_renderer(),
                                    now=session.starts_at - timedelta(minutes=1))
    assert not result.created
    assert "n'a pas encore commencé" in result.refused[doc.case_id]
    with chain.db.uow() as uow:
        assert uow.session.scalars(select(m.Document).where(m.Document.case_id == doc.case_id)).all() == []
    # a session moved to the future of the real clock: the real time is before the meeting too
    _move_session(chain, session.id, datetime.now(UTC) + timedelta(days=2))
    with chain.db.uow() as uow:
        result = generate_documents(uow, case_ids=[doc.case_id], cda=cda_builder(), pdf=pdf_renderer())
    assert not result.created and "n'a pas encore commencé" in result.refused[doc.case_id]
    with chain.db.uow() as uow, pytest.raises(ValueError, match="future"):
        generate_documents(uow, case_ids=[doc.case_id], cda=cda_builder(), pdf=pdf_renderer(),
                           now=datetime.now(UTC) + timedelta(days=3))


def test_signing_stamps_the_real_time_after_the_meeting(chain: Chain) -> None:
    assert "now" not in inspect.signature(sign_documents).parameters  # nobody passes a signing time in
    before = datetime.now(UTC).replace(microsecond=0)
    chain.sign_all()
    after = datetime.now(UTC)
    for doc in chain.documents(kind="FRCP"):
        meeting, created, signed = _times(doc.cda)
        assert meeting <= created <= signed
        assert before <= signed <= after
        assert doc.signed_at is not None and abs(doc.signed_at - signed) < timedelta(seconds=1)


def test_signing_is_refused_before_the_meeting(chain: Chain) -> None:
    doc = _frcp(chain)
    session = _session_of(chain, doc.case_id)
    _move_session(chain, session.id, datetime.now(UTC) + timedelta(days=2))
    with chain.db.uow() as uow, pytest.raises(Conflict, match="n'a pas encore commencé"):
        sign_documents(uow, document_ids=[doc.id], signer_professional_id=doc.signer_id, cda=cda_builder(),
                       signers=chain.signers)
    again = chain.documents(id=doc.id)[0]
    assert again.status == "draft" and again.signed_at is None and again.cda == doc.cda


def test_a_correction_is_never_dated_before_the_meeting(signed_chain: Chain) -> None:
    doc = _frcp(signed_chain)
    session = _session_of(signed_chain, doc.case_id)
    changes = CorrectionInput(reason="Précision.", comment="Bilan biologique complet avant traitement.")
    with signed_chain.db.uow() as uow, pytest.raises(Conflict, match="n'a pas encore commencé"):
        correct_document(uow, document_id=doc.id, actor="dr.test", changes=changes, cda=cda_builder(),
                         pdf=pdf_renderer(), now=session.starts_at - timedelta(hours=1))
    assert len(signed_chain.documents(set_id=doc.set_id)) == 1  # nothing written
    with signed_chain.db.uow() as uow:
        new_id = correct_document(uow, document_id=doc.id, actor="dr.test", changes=changes, cda=cda_builder(),
                                  pdf=pdf_renderer())
    meeting, created, _ = _times(signed_chain.documents(id=new_id)[0].cda)
    assert meeting <= created <= datetime.now(UTC)
