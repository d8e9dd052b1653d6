"""A signed document never changes: ORM guard (audited), database triggers (raw SQL), on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text, update

from dcc.adapters.db import models as m
from dcc.adapters.db.guards import is_immutable_violation, set_actor
from dcc.adapters.signing import verify_pdf
from dcc.bootstrap import cda_builder, pdf_renderer
from dcc.errors import ImmutableDocument
from dcc.services.audit import verify_chain
from dcc.services.corrections import CorrectionInput, correct_document
from dcc.services.documents import audit_store
from dcc.services.uow import Database

# What a signature freezes, written out here (not imported from the guard: dropping a column from the guard
# must fail this test): the signed bytes and their hashes, the identifiers, the signer and signing time.
FROZEN_COLUMNS = ("cda", "pdf", "sha256", "pdf_sha256", "unique_id", "signer_id", "signed_at", "set_id",
                  "version")

Chain = Any  # tests/services/conftest.py:Chain
TRIGGER_MESSAGE = "document signe immuable"


def refusals(db: Database) -> list[m.AuditEvent]:
    with db.uow() as uow:
        q = select(m.AuditEvent).where(m.AuditEvent.action == "document.immutable_refused").order_by(m.AuditEvent.id)
        events = list(uow.session.scalars(q).all())
        uow.session.expunge_all()
        return events


def snapshot(db: Database, doc_id: str) -> tuple[Any, ...]:
    with db.uow() as uow:
        doc = uow.session.get(m.Document, doc_id)
        assert doc is not None
        return tuple(getattr(doc, c) for c in FROZEN_COLUMNS)


def new_value(column: str, doc: m.Document, other_professional: str) -> object:
    return {
        "cda": doc.cda + b"<!-- x -->", "pdf": doc.pdf + b"%x", "sha256": "0" * 64, "pdf_sha256": "1" * 64,
        "unique_id": "2.25.1", "signer_id": other_professional, "signed_at": datetime(2020, 1, 1, tzinfo=UTC),
        "set_id": "2.25.2", "version": 9,
    }[column]


def test_orm_changes_and_deletion_refused_and_audited(signed_chain: Chain) -> None:
    db = signed_chain.db
    doc_id = signed_chain.signed[0]
    before = snapshot(db, doc_id)
    with db.uow() as uow:
        other = uow.session.scalars(select(m.Professional.id)).all()
    for column in FROZEN_COLUMNS:
        with db.uow() as uow:
            set_actor(uow.session, "dr.mallory")
            doc = uow.session.get(m.Document, doc_id)
            assert doc is not None
            setattr(doc, column, new_value(column, doc, next(p for p in other if p != doc.signer_id)))
            with pytest.raises(ImmutableDocument, match="ne peuvent plus être modifiés") as exc:
                uow.commit()
            assert column in exc.value.message and exc.value.status_code == 409
    with db.uow() as uow:  # refused at flush too, not only at commit; deletion refused
        doc = uow.session.get(m.Document, doc_id)
        assert doc is not None
        uow.session.delete(doc)
        with pytest.raises(ImmutableDocument, match="ne peut pas être supprimé"):
            uow.session.flush()
    assert snapshot(db, doc_id) == before

    events = refusals(db)
    assert [e.detail["columns"] for e in events] == [[c] for c in FROZEN_COLUMNS] + [[]]
    assert [e.detail["operation"] for e in events] == ["update"] * len(FROZEN_COLUMNS) + ["delete"]
    assert all(e.entity_id == doc_id and e.detail["source"] == "orm" and e.detail["status"] == "signed"
               for e in events)
    assert {e.actor for e in events[:-1]} == {"dr.mallory"} and events[-1].actor == "inconnu"
    with db.uow() as uow:
        assert verify_chain(uow) == []


def test_status_changes_allowed_and_frozen_after(chain: Chain) -> None:
    db = chain.db
    signer_id, ids = next(iter(chain.drafts.items()))
    draft_id, doomed_id = ids[0], ids[-1]
    assert draft_id != doomed_id
    with db.uow() as uow:  # a draft is still free: regenerate its bytes, or delete it
        doc = uow.session.get(m.Document, draft_id)
        assert doc is not None
        doc.pdf_sha256 = hashlib.sha256(doc.pdf).hexdigest()
        doc.template_version = "test"
        uow.session.delete(uow.session.get(m.Document, doomed_id))
        uow.commit()
    chain.drafts[signer_id] = ids[:-1]
    chain.sign_all()
    for status in ("delivered", "failed", "delivered", "superseded"):
        with db.uow() as uow:
            doc = uow.session.get(m.Document, draft_id)
            assert doc is not None
            doc.status = status
            uow.commit()
    with db.uow() as uow:
        doc = uow.session.get(m.Document, draft_id)
        assert doc is not None and doc.status == "superseded"
        doc.sha256 = "f" * 64
        with pytest.raises(ImmutableDocument, match="remplacé par une nouvelle version"):
            uow.commit()
    assert refusals(db)[-1].detail["status"] == "superseded"


def test_a_signed_document_never_becomes_a_draft_again(signed_chain: Chain) -> None:
    db = signed_chain.db
    doc_id = signed_chain.signed[0]
    with db.uow() as uow:
        set_actor(uow.session, "dr.mallory")
        doc = uow.session.get(m.Document, doc_id)
        assert doc is not None
        doc.status = "draft"
        with pytest.raises(ImmutableDocument, match="ne peut pas redevenir un brouillon"):
            uow.commit()
    last = refusals(db)[-1]
    assert last.actor == "dr.mallory" and last.detail["columns"] == ["status"]
    with db.uow() as uow:  # bulk UPDATE past the flush guard: the database refuses it
        with pytest.raises(ImmutableDocument):
            uow.session.execute(update(m.Document).where(m.Document.id == doc_id).values(status="draft"))
    with db.uow() as uow:
        doc = uow.session.get(m.Document, doc_id)
        assert doc is not None and doc.status == "signed"
        assert verify_chain(uow) == []


def _raw(db: Database, sql: str, params: tuple[Any, ...]) -> None:
    """Execute on the DBAPI connection itself: neither the ORM guard nor SQLAlchemy's error mapping."""
    conn = db.engine.raw_connection()
    try:
        cur = conn.cursor()
        marker = "?" if db.engine.dialect.name == "sqlite" else "%s"
        if db.engine.dialect.name == "sqlite":
            cur.execute("BEGIN")
        cur.execute(sql.replace("?", marker), params)
        conn.commit()
    except Exception:
        conn.rollback()
        raise
    finally:
        conn.close()


def test_raw_sql_refused_by_the_trigger(signed_chain: Chain) -> None:
    db = signed_chain.db
    doc_id = signed_chain.signed[0]
    before = snapshot(db, doc_id)
    for sql, params in (("UPDATE document SET cda = ? WHERE id = ?", (b"<x/>", doc_id)),
                        ("UPDATE document SET sha256 = ? WHERE id = ?", ("0" * 64, doc_id)),
                        ("UPDATE document SET unique_id = ? WHERE id = ?", ("2.25.3", doc_id)),
                        ("DELETE FROM document WHERE id = ?", (doc_id,))):
        with pytest.raises(Exception, match=TRIGGER_MESSAGE) as exc:
            _raw(db, sql, params)
        assert "IntegrityError" in type(exc.value).__name__ or "Violation" in type(exc.value).__name__
    _raw(db, "UPDATE document SET status = ? WHERE id = ?", ("delivered", doc_id))  # status may move on
    # ... but never back to draft, which would free the bytes for a second statement
    with pytest.raises(Exception, match=TRIGGER_MESSAGE):
        _raw(db, "UPDATE document SET status = ? WHERE id = ?", ("draft", doc_id))

    # through SQLAlchemy (bare connection): the trigger's error becomes ImmutableDocument
    with db.engine.connect() as conn:
        with pytest.raises(ImmutableDocument) as exc2:
            conn.execute(text("UPDATE document SET pdf = :b WHERE id = :i"), {"b": b"%PDF", "i": doc_id})
        assert is_immutable_violation(exc2.value) and is_immutable_violation(exc2.value.__cause__)
        conn.rollback()
    # through the ORM, bypassing the flush guard (bulk UPDATE): refused by the trigger, audited
    with db.uow() as uow:
        set_actor(uow.session, "script")
        with pytest.raises(ImmutableDocument):
            uow.session.execute(update(m.Document).where(m.Document.id == doc_id).values(version=7))
    assert snapshot(db, doc_id) == before
    last = refusals(db)[-1]
    assert last.actor == "script" and last.detail["source"] == "trigger" and last.detail["operation"] == "update"
    with db.uow() as uow:
        assert verify_chain(uow) == []


def test_audit_store_detects_mismatches(signed_chain: Chain) -> None:
    db = signed_chain.db
    with db.uow() as uow:
        assert audit_store(uow) == []
    pps = signed_chain.documents(kind="PPS")[0]
    with db.uow() as uow:
        draft_id = correct_document(uow, document_id=pps.id, actor="dr.test",
                                    changes=CorrectionInput(reason="Calendrier.", update_motive="GEN-176"),
                                    cda=cda_builder(), pdf=pdf_renderer())
    draft = signed_chain.documents(id=draft_id)[0]
    _raw(db, "UPDATE document SET sha256 = ? WHERE id = ?", ("0" * 64, draft_id))  # a draft: allowed
    with db.uow() as uow:
        problems = audit_store(uow)
    assert problems == [f"{draft.unique_id} (PPS) : l'empreinte SHA-256 du CDA ne correspond pas."]

    # a signed document's bytes changed behind the triggers' back (disabled for the test)
    signed = signed_chain.documents(id=signed_chain.signed[0])[0]
    tampered = bytearray(signed.pdf)
    tampered[len(tampered) // 2] ^= 0x01
    sqlite = db.engine.dialect.name == "sqlite"
    with db.engine.begin() as conn:
        if sqlite:
            conn.exec_driver_sql("DROP TRIGGER document_immutable_update")
        else:
            conn.exec_driver_sql("ALTER TABLE document DISABLE TRIGGER document_immutable")
    try:
        _raw(db, "UPDATE document SET pdf = ? WHERE id = ?", (bytes(tampered), signed.id))
    finally:
        if not sqlite:
            with db.engine.begin() as conn:
                conn.exec_driver_sql("ALTER TABLE document ENABLE TRIGGER document_immutable")
    with db.uow() as uow:
        problems = audit_store(uow)
    assert f"{signed.unique_id} ({signed.kind}) : l'empreinte SHA-256 du PDF ne correspond pas." in problems
    assert len(problems) == 2
    assert not verify_pdf(signed_chain.documents(id=signed.id)[0].pdf, trust_roots=[signed_chain.ca]).ok
