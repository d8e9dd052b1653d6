"""Identity vigilance at registration (known INS with other traits, patients without INS matched on their
traits, one open case per patient and board) and regeneration of unsigned documents."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from dcc.adapters.db import models as m
from dcc.bootstrap import cda_builder, pdf_renderer
from dcc.domain.identifiers import nir_key
from dcc.errors import Conflict, IdentityConflict
from dcc.services import boards as svc
from dcc.services import consent
from dcc.services.documents import generate_documents, regenerate_case_documents
from dcc.services.schemas import AttendanceInput, DecisionInput, PatientIdentity

NIR = "2750344109123" + nir_key("2750344109123")  # MARTIN Claire, F, 1975-03, Nantes (see BoardWorld)


def identity(**overrides: Any) -> PatientIdentity:
    fields: dict[str, Any] = {
        "ins_matricule": NIR, "ins_oid": "1.2.250.1.213.1.4.10", "ins_qualified": True,
        "birth_family": "MARTIN", "birth_given_first": "CLAIRE", "birth_given_all": "CLAIRE ANNE",
        "birth_date": "1975-03-12", "sex": "F", "birthplace_insee": "44109", "birthplace_city": "NANTES"}
    fields.update(overrides)
    return PatientIdentity(**fields)


def patients(w: Any) -> int:
    with w.db.uow() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(m.Patient)) or 0)


def test_known_ins_with_other_traits_is_refused_naming_them_never_merged(board_world: Any) -> None:
    w = board_world
    first = w.register("Sein", 1, patient=identity())
    with pytest.raises(IdentityConflict) as refused:
        w.register("Digestif", 1, patient=identity(birth_family="DURAND", birth_date="1975-03-13"))
    message = refused.value.message
    assert refused.value.status_code == 409
    assert "nom de naissance" in message and "date de naissance" in message
    assert "sexe" not in message and "prénom" not in message
    assert refused.value.candidates == [w.case(first).patient_id]
    assert patients(w) == 1


def test_known_ins_with_the_same_traits_is_the_existing_patient(board_world: Any) -> None:
    w = board_world
    first = w.register("Sein", 1, patient=identity())
    # same traits written differently: case, accents, hyphens (INS comparison form)
    second = w.register("Digestif", 1, patient=identity(birth_family="Martin", birth_given_first="Claire"))
    assert w.case(first).patient_id == w.case(second).patient_id
    assert patients(w) == 1


def test_patient_without_ins_is_matched_on_traits_then_chosen_or_confirmed(board_world: Any) -> None:
    w = board_world
    first = w.register("Sein", 1, patient=identity())
    existing = w.case(first).patient_id
    no_ins = identity(ins_matricule=None, ins_qualified=False, birth_family="Mârtin")
    with pytest.raises(IdentityConflict) as proposed:
        w.register("Digestif", 1, patient=no_ins)
    assert proposed.value.candidates == [existing] and "mêmes traits" in proposed.value.message
    assert patients(w) == 1
    # the coordinator picks the existing patient
    picked = w.register("Digestif", 1, patient=None, patient_id=existing)
    assert w.case(picked).patient_id == existing
    # or confirms a new patient (homonym): created without INS
    other = w.register("Urologie", 1, patient=identity(ins_matricule=None, ins_qualified=False, sex="F"),
                       new_patient=True)
    with w.db.uow() as uow:
        created = uow.session.get(m.Patient, w.case(other).patient_id)
        assert created is not None and created.id != existing
        assert created.ins_matricule is None and created.ins_oid is None and not created.ins_qualified


def test_an_unqualified_identity_needs_its_ins() -> None:
    with pytest.raises(ValueError, match="INS"):
        identity(ins_matricule=None, ins_qualified=True)


def test_a_patient_registered_without_ins_receives_it_when_chosen(board_world: Any) -> None:
    w = board_world
    first = w.register("Sein", 1, patient=identity(ins_matricule=None, ins_qualified=False))
    pid = w.case(first).patient_id
    w.register("Digestif", 1, patient=identity(ins_qualified=False), patient_id=pid)
    with w.db.uow() as uow:
        patient = uow.session.get(m.Patient, pid)
        assert patient is not None and patient.ins_matricule == NIR
    assert [e.patient_id for e in w.audit("patient.ins_attach")] == [pid]
    with pytest.raises(IdentityConflict, match="prénom"):
        w.register("Urologie", 1, patient=identity(birth_given_first="CLARA"), patient_id=pid)


def test_second_open_case_on_the_same_board_is_refused(board_world: Any) -> None:
    w = board_world
    w.register("Sein", 1, patient=identity())
    with pytest.raises(IdentityConflict, match="déjà un dossier en cours"):
        w.register("Sein", 1, patient=identity())
    w.register("Digestif", 1, patient=identity())  # another board: accepted


# ------------------------------------------------------------------------------------------ regeneration


def decide(w: Any, case_id: str) -> None:
    """Assign, hold the session with every member present, record a decision and validate the session."""
    w.assign()
    case = w.case(case_id)
    assert case.session_id
    members = w.members(case.board_id)
    with w.db.uow() as uow:
        svc.record_attendance(uow, session_id=case.session_id, actor="coord",
                              data=AttendanceInput(attendance={p.id: "present" for p in members}))
    with w.db.uow() as uow:
        svc.record_decision(uow, case_id=case_id, actor="coord", data=DecisionInput(
            session_id=case.session_id, case_status="discussed", proposal_codes=["387713003"],
            proposal_text="Chirurgie première.", conform_to_referential=True))
    with w.db.uow() as uow:
        svc.validate_session(uow, session_id=case.session_id, today=w.today, actor="coord")


def documents(w: Any, case_id: str) -> list[m.Document]:
    with w.db.uow() as uow:
        docs = list(uow.session.scalars(select(m.Document).where(m.Document.case_id == case_id)
                                        .order_by(m.Document.kind)))
        uow.session.expunge_all()
        return docs


TNM = {"tnm_t": "T2", "tnm_n": "N0", "tnm_m": "M0", "tnm_edition": 8}


def test_unqualified_identity_refused_then_qualifying_regenerates(board_world: Any) -> None:
    w = board_world
    cid = w.register("Sein", 1, patient=identity(ins_qualified=False), **TNM)
    decide(w, cid)
    with w.db.uow() as uow:
        result = generate_documents(uow, case_ids=[cid], cda=cda_builder(), pdf=pdf_renderer())
    assert cid in result.refused and not documents(w, cid)
    assert w.case(cid).documents_missing == ["identifiant du patient (INS qualifiée ou IPP)"]
    with w.db.uow() as uow:
        consent.qualify_identity(uow, w.case(cid).patient_id, "idv", cda=cda_builder(), pdf=pdf_renderer())
    docs = documents(w, cid)
    assert docs and all(d.status == "draft" for d in docs)
    assert w.case(cid).documents_missing == []
    frcp = next(d for d in docs if d.kind == "FRCP")
    assert NIR.encode() in frcp.cda  # the qualified INS is now in the recordTarget
    [event] = w.audit("document.regenerate")
    assert event.actor == "idv" and event.entity_id == cid
    assert event.detail["documents_missing"] == ["identifiant du patient (INS qualifiée ou IPP)"]


def test_regenerate_replaces_drafts_and_refuses_signed_documents(board_world: Any) -> None:
    w = board_world
    cid = w.register("Sein", 1, patient=identity(), **TNM)
    decide(w, cid)
    with w.db.uow() as uow:
        generate_documents(uow, case_ids=[cid], cda=cda_builder(), pdf=pdf_renderer())
    before = documents(w, cid)
    assert before
    with w.db.uow() as uow:
        result = regenerate_case_documents(uow, cid, "coord", cda_builder(), pdf_renderer())
    after = documents(w, cid)
    assert sorted(result.removed) == sorted(d.id for d in before)
    assert sorted(result.created) == sorted(d.id for d in after) and not result.refused
    assert not {d.id for d in before} & {d.id for d in after}
    assert not {d.unique_id for d in before} & {d.unique_id for d in after}
    with w.db.uow() as uow:  # the replaced drafts are gone
        assert not uow.session.scalars(select(m.Document).where(m.Document.id.in_(result.removed))).all()
    [event] = w.audit("document.regenerate")
    assert {r["unique_id"] for r in event.detail["replaced"]} == {d.unique_id for d in before}
    # once signed, nothing is regenerated: corrections follow their own path
    frcp = next(d for d in after if d.kind == "FRCP")
    with w.db.uow() as uow:  # signed (the signature itself is tested elsewhere)
        doc = uow.session.get(m.Document, frcp.id)
        assert doc is not None
        doc.status, doc.signed_at = "signed", datetime(2025, 3, 12, 10, 0, tzinfo=UTC)
        uow.commit()
    with w.db.uow() as uow, pytest.raises(Conflict, match="signés"):
        regenerate_case_documents(uow, cid, "coord", cda_builder(), pdf_renderer())
    assert {d.id for d in documents(w, cid)} == {d.id for d in after}


def test_regenerate_needs_a_validated_decision(board_world: Any) -> None:
    w = board_world
    cid = w.register("Sein", 1, patient=identity(), **TNM)
    with w.db.uow() as uow, pytest.raises(Conflict, match="décision validée"):
        regenerate_case_documents(uow, cid, "coord", cda_builder(), pdf_renderer())


def test_a_patient_without_ins_cannot_be_qualified(board_world: Any) -> None:
    w = board_world
    cid = w.register("Sein", 1, patient=identity(ins_matricule=None, ins_qualified=False))
    with w.db.uow() as uow, pytest.raises(Conflict, match="pas d'INS"):
        consent.qualify_identity(uow, w.case(cid).patient_id, "idv")
