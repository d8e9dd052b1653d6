"""Coded fields of the case and decision forms are checked against the referential versions in force in the
database (not the package's JSON): a code a regional version added is accepted, a code it retired or never
had is refused with a French message naming the field and the code, and nothing is written. SQLite and
PostgreSQL (`board_world`)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from dcc.adapters.db import models as m
from dcc.adapters.referentials import read_path
from dcc.errors import ValidationFailed
from dcc.services import boards as svc
from dcc.services import referentials
from dcc.services.schemas import DecisionInput, TumourUpdate
from tests.services.test_boards import MARCH_11, session_on
from tests.services.test_referentials import svs

TODAY = date(2025, 3, 3)


def import_version(w: Any, tmp_path: Path, system: str, *, drop: str, add: tuple[str, str] | None) -> None:
    """A new version of `system`: the codes in force without `drop`, with `add` (code, label)."""
    with w.db.uow() as uow:
        active = [(c.code, c.label, "") for c in uow.session.scalars(select(m.ReferentialConcept).where(
            m.ReferentialConcept.system == system, m.ReferentialConcept.active.is_(True)))]
    assert drop in {code for code, _, _ in active}
    kept = [c for c in active if c[0] != drop] + ([(add[0], add[1], "")] if add else [])
    path = tmp_path / f"{system}.xml"
    path.write_text(svs(system, "2025-02-01", kept), encoding="utf-8")
    with w.db.uow() as uow:
        [report] = referentials.import_referentials(uow, read_path(path), actor="test", today=TODAY)
    assert report.diff.retired == (drop,)


def counts(w: Any) -> tuple[int, int, int]:
    with w.db.uow() as uow:
        return tuple(uow.session.scalar(select(func.count()).select_from(t))  # type: ignore[return-value]
                     for t in (m.Case, m.Patient, m.AuditEvent))


def test_registration_follows_the_version_in_force(board_world: Any, tmp_path: Path) -> None:
    w = board_world
    # C50.7 is not in the package's baseline (dcc/data/valuesets.json): only the imported version has it
    with pytest.raises(ValidationFailed) as exc:
        w.register("Sein", 1, topography_code="C50.7")
    assert exc.value.field == "topography_code" and "« C50.7 »" in exc.value.message
    assert "n'appartient pas au référentiel JDV_Tumeur_CISIS en vigueur" in exc.value.message
    import_version(w, tmp_path, "JDV_Tumeur_CISIS", drop="C50.8",
                   add=("C50.7", "Tumeur maligne du sein, version régionale de test"))
    case_id = w.register("Sein", 1, topography_code="C50.7")
    assert w.case(case_id).topography_code == "C50.7"
    before = counts(w)
    with pytest.raises(ValidationFailed) as exc:
        w.register("Sein", 2, topography_code="C50.8")
    assert exc.value.field == "topography_code"
    assert exc.value.message == ("Topographie (CIM-10) (topography_code) : le code « C50.8 » a été retiré du "
                                 "référentiel JDV_Tumeur_CISIS (version 2025-02-01T00:00:00+01:00 en vigueur) ; "
                                 "choisissez un code en vigueur.")
    assert counts(w) == before  # nothing written: no case, no patient, no audit event
    # a tumour entered again cannot take the retired code either, and the case is left as it was
    with w.db.uow() as uow, pytest.raises(ValidationFailed, match="« C50.8 » a été retiré") as exc:
        svc.update_tumour(uow, case_id=case_id, today=TODAY, actor="test", data=TumourUpdate(
            topography_code="C50.8", laterality="gauche"))
    assert exc.value.field == "topography_code" and w.case(case_id).topography_code == "C50.7"


@pytest.mark.parametrize(("overrides", "field", "code"), [
    ({"topography_code": "C99.9", "laterality": None}, "topography_code", "C99.9"),
    ({"morphology_code": "9999/9"}, "morphology_code", "9999/9"),
    ({"required_specialties": ["SM99"]}, "required_specialties", "SM99"),
])
def test_codes_outside_their_referential_are_refused(board_world: Any, overrides: dict[str, Any], field: str,
                                                     code: str) -> None:
    w = board_world
    before = counts(w)
    with pytest.raises(ValidationFailed) as exc:
        w.register("Sein", 3, **overrides)
    assert exc.value.field == field and f"« {code} »" in exc.value.message and f"({field})" in exc.value.message
    assert counts(w) == before


def test_a_morphology_is_checked_against_its_topography_with_the_database_labels(board_world: Any) -> None:
    with pytest.raises(ValidationFailed) as exc:  # an in-situ morphology on an invasive code
        board_world.register("Sein", 4, morphology_code="8500/2")
    assert exc.value.field == "morphology_code" and "n'est pas compatible avec la localisation" in exc.value.message
    assert board_world.case(board_world.register("Sein", 4, morphology_code="8500/3")).morphology_code == "8500/3"


def test_decision_treatments_follow_the_version_in_force(board_world: Any, tmp_path: Path) -> None:
    w = board_world
    cid = w.register("Sein", 5)
    w.assign()
    meeting = session_on(w, "Sein", MARCH_11)
    import_version(w, tmp_path, "JDV_TypeTraitement_FRCP_CISIS", drop="C15195", add=None)  # curiethérapie
    with w.db.uow() as uow, pytest.raises(ValidationFailed) as exc:
        svc.record_decision(uow, case_id=cid, data=DecisionInput(
            session_id=meeting.id, case_status="discussed", proposal_codes=["387713003", "C15195"],
            proposal_text="Chirurgie puis curiethérapie."))
    assert exc.value.field == "proposal_codes" and "« C15195 » a été retiré" in exc.value.message
    with w.db.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(m.Decision)) == 0
        svc.record_decision(uow, case_id=cid, data=DecisionInput(
            session_id=meeting.id, case_status="discussed", proposal_codes=["387713003"],
            proposal_text="Chirurgie première."))
    with w.db.uow() as uow:
        assert uow.session.scalars(select(m.Decision.proposal_codes)).one() == ["387713003"]
