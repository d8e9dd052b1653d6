"""Case registration: validated input (French messages naming the field), readiness checklist per board kind,
the coordinator's override. Database tests run on SQLite and PostgreSQL (`board_world`, tests/services/conftest.py).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from dcc.domain.identifiers import nir_key, with_luhn_key
from dcc.errors import ValidationFailed
from dcc.services import boards as svc
from dcc.services.schemas import CaseRegistration, PatientIdentity
from dcc.services.uow import Database

FIRST13 = "2750344109123"
PATIENT: dict[str, Any] = {
    "ins_oid": "1.2.250.1.213.1.4.10", "ins_qualified": True, "birth_family": "MARTIN",
    "birth_given_first": "CLAIRE", "birth_given_all": "CLAIRE ANNE", "birth_date": date(1975, 3, 12), "sex": "F",
    "birthplace_insee": "44109",
}
TODAY = date(2025, 3, 3)


def registration(**overrides: Any) -> CaseRegistration:
    fields: dict[str, Any] = {
        "board_id": "b", "patient": {"ins_matricule": FIRST13 + nir_key(FIRST13), **PATIENT},
        "requester_rpps": with_luhn_key("1000000001"), "topography_code": "C50.9",
        "laterality": "gauche", "question": "Quelle stratégie ?", "earliest_date": TODAY,
    }
    fields.update(overrides)
    return CaseRegistration(**fields)


def only_error(exc: pytest.ExceptionInfo[ValidationError]) -> tuple[tuple[int | str, ...], str]:
    [error] = exc.value.errors()
    return tuple(error["loc"]), str(error["msg"])


# ------------------------------------------------------------------------------------ validated input


def test_nir_with_a_wrong_key_is_refused_naming_the_field() -> None:
    good = FIRST13 + nir_key(FIRST13)
    bad = good[:13] + f"{(int(good[13:]) % 97) + 1:02d}"
    with pytest.raises(ValidationError) as exc:
        PatientIdentity(ins_matricule=bad, **PATIENT)
    loc, msg = only_error(exc)
    assert loc == ("ins_matricule",) and "clé de contrôle" in msg
    with pytest.raises(ValidationError) as exc:
        registration(patient={"ins_matricule": bad, **PATIENT})
    loc, msg = only_error(exc)
    assert loc == ("patient", "ins_matricule") and "NIR" in msg


def test_unknown_icd10_topography_is_refused_naming_the_value_set(sqlite_database: Database) -> None:
    # the codes are checked by the use case against the referentials in the database (test_coded_fields.py)
    with sqlite_database.uow() as uow, pytest.raises(ValidationFailed) as exc:
        svc.check_case_codes(uow, registration(topography_code="C99.9", laterality=None))
    assert exc.value.field == "topography_code"
    assert "C99.9" in exc.value.message and "JDV_Tumeur_CISIS" in exc.value.message


def test_rpps_with_a_wrong_key_and_unknown_specialty_are_refused(sqlite_database: Database) -> None:
    rpps = with_luhn_key("1000000001")
    with pytest.raises(ValidationError) as exc:
        registration(requester_rpps=rpps[:-1] + str((int(rpps[-1]) + 1) % 10))
    assert only_error(exc)[0] == ("requester_rpps",)
    with sqlite_database.uow() as uow, pytest.raises(ValidationFailed) as failed:
        svc.check_case_codes(uow, registration(required_specialties=["XX"]))
    assert failed.value.field == "required_specialties" and "« XX »" in failed.value.message


def test_standard_case_needs_its_referential() -> None:
    with pytest.raises(ValidationError) as exc:
        registration(standard=True, referential_name="Référentiel sein")
    assert "référentiel" in only_error(exc)[1]


def test_unknown_board_and_unknown_requester_are_refused(board_world: Any) -> None:
    w = board_world
    with w.db.uow() as uow, pytest.raises(ValidationFailed) as exc:
        svc.register_case(uow, data=w.registration("Sein", 1, board_id="nope"))
    assert exc.value.status_code == 422 and exc.value.field == "board_id" and "n'existe pas" in exc.value.message
    with w.db.uow() as uow, pytest.raises(ValidationFailed) as exc:
        svc.register_case(uow, data=w.registration("Sein", 1, requester_rpps=with_luhn_key("1099999999")))
    assert exc.value.field == "requester_rpps" and "RPPS" in exc.value.message


# ----------------------------------------------------------------------------- readiness per board kind


@pytest.mark.parametrize(("kind", "overrides", "missing"), [
    ("organ", {}, []),
    ("organ", {"pathology_report": False}, ["compte rendu anatomopathologique"]),
    ("organ", {"imaging_date": TODAY - timedelta(days=43)}, ["imagerie de moins de 6 semaines"]),
    ("organ", {"imaging_date": TODAY - timedelta(days=42)}, []),
    ("organ", {"family_history": False, "patient_consent": False, "parental_consent": False}, []),
    ("paediatric", {"parental_consent": False}, ["consentement des titulaires de l'autorité parentale"]),
    ("paediatric", {"pathology_report": False}, ["compte rendu anatomopathologique"]),
    ("transversal", {"pathology_report": False}, []),
    ("transversal", {"patient_consent": False}, ["consentement du patient"]),
    ("oncogenetics", {"pathology_report": False, "imaging_date": TODAY - timedelta(days=100)}, []),
    ("oncogenetics", {"family_history": False, "patient_consent": False},
     ["antécédents familiaux (arbre généalogique)", "consentement du patient à l'analyse génétique"]),
])
def test_readiness_checklist_depends_on_the_board_kind(kind: Any, overrides: dict[str, Any],
                                                       missing: list[str]) -> None:
    assert registration(**overrides).readiness_missing(kind) == missing


def test_readiness_kind_of_each_seeded_board(board_world: Any) -> None:
    w = board_world
    kinds = {name: svc.readiness_kind(w.board(name)) for name in (
        "Sein", "Oncopédiatrie", "Oncogénétique", "Recours régional neuro-oncologie")}
    assert kinds == {"Sein": "organ", "Oncopédiatrie": "paediatric", "Oncogénétique": "oncogenetics",
                     "Recours régional neuro-oncologie": "organ"}


def test_not_ready_case_is_flagged_skipped_then_forced_by_the_coordinator(board_world: Any) -> None:
    w = board_world
    cid = w.register("Sein", 1, pathology_report=False)
    ready = w.register("Sein", 2)
    assert w.case(cid).not_ready == ["compte rendu anatomopathologique"]
    summary = w.assign()
    assert (summary.assigned, summary.not_ready) == (1, 1)
    case = w.case(cid)
    assert case.status == "pending" and case.session_id is None
    assert "dossier incomplet" in case.assignment_reason and "forcer" in case.assignment_reason
    assert w.case(ready).status == "assigned"
    with w.db.uow() as uow:
        assert svc.force_not_ready(uow, case_id=cid, actor="coord") == ["compte rendu anatomopathologique"]
    [event] = w.audit("case.force_not_ready")
    assert event.actor == "coord" and event.detail == {"missing": ["compte rendu anatomopathologique"]}
    assert w.assign().assigned == 1
    assert w.case(cid).status == "assigned" and w.case(cid).not_ready == []


def test_forced_at_registration_the_case_is_assignable_and_the_override_audited(board_world: Any) -> None:
    w = board_world
    cid = w.register("Oncogénétique", 1, family_history=False, force=True)
    assert w.case(cid).not_ready == []
    [event] = w.audit("case.force_not_ready")
    assert event.entity_id == cid and event.detail == {"missing": ["antécédents familiaux (arbre généalogique)"]}
    assert event.patient_id == w.case(cid).patient_id
    assert w.assign().assigned == 1


def test_flags_follow_the_board_kind_at_registration(board_world: Any) -> None:
    w = board_world
    onco = w.register("Oncogénétique", 1, pathology_report=False, family_history=False)
    paed = w.register("Oncopédiatrie", 2, parental_consent=False)
    organ = w.register("Sein", 3, family_history=False, parental_consent=False)
    assert w.case(onco).not_ready == ["antécédents familiaux (arbre généalogique)"]
    assert w.case(paed).not_ready == ["consentement des titulaires de l'autorité parentale"]
    assert w.case(organ).not_ready == []
    assert w.audit("case.force_not_ready") == []


def test_moving_a_not_ready_case_needs_the_override(board_world: Any) -> None:
    w = board_world
    cid = w.register("Sein", 1, pathology_report=False)
    target = next(s for s in w.open_sessions(w.board("Sein").id))
    with w.db.uow() as uow, pytest.raises(ValidationFailed) as exc:
        svc.move_case(uow, case_id=cid, session_id=target.id, today=w.today, actor="coord")
    assert exc.value.field == "case_id" and "incomplet" in exc.value.message
    with w.db.uow() as uow:
        out = svc.move_case(uow, case_id=cid, session_id=target.id, today=w.today, force=True, actor="coord")
    assert out.overrides == ["not_ready"]
    assert w.case(cid).status == "assigned" and w.case(cid).not_ready == []
