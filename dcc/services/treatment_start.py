"""The first-treatment date of a case: entered afterwards by the care team (or the board's coordinator), used
by the network's indicators (discussed before the first treatment, delay RCP → first treatment).

HAS 2006: every new case is presented before the first treatment starts (« avant mise en route du
primo-traitement »); the date is what a person entered, never derived from the plan (PPS dates are planned,
not done). Refused before the diagnosis date or in the future; clearing it (None) says « non renseigné ».
"""

from __future__ import annotations

from datetime import date, datetime

from dcc.adapters.db import models as m
from dcc.domain.clock import now_utc
from dcc.domain.states import CaseStatus
from dcc.errors import Conflict, NotFound, ValidationFailed
from dcc.services import access
from dcc.services.audit import record_audit
from dcc.services.uow import UnitOfWork

FIELD = "first_treatment_date"


def can_record(uow: UnitOfWork, user: access.User, case_id: str) -> bool:
    """The patient's care team (a physician of it, not through break-the-glass; the establishment's
    coordinating nurse) or the board's coordinator."""
    if user.role == "coordinator":
        return access.can_decide(uow, user, case_id)
    return access.can_author_pps(uow, user, case_id)


def record_first_treatment(uow: UnitOfWork, user: access.User, *, case_id: str, when: date | None, today: date,
                           now: datetime | None = None) -> None:
    """Record (or clear, `when` None) the day the case's first treatment started; audited, nothing written
    when refused."""
    access.require_role(user, "physician", "ide", "coordinator",
                        message="Seuls l'équipe de soins ou le coordinateur de la RCP saisissent la date du "
                                "premier traitement.")
    access.require(uow, user, "case", case_id, access.case_filter(user), action="first_treatment")
    if not can_record(uow, user, case_id):
        raise access.AccessDenied("Vous ne faites pas partie de l'équipe de soins de ce patient.")
    case = uow.session.get(m.Case, case_id)
    assert case is not None  # access.require answered 404 otherwise
    if case.status == CaseStatus.REPRESENTED:
        raise Conflict("Ce dossier a été représenté (quorum non atteint) : saisissez la date sur sa nouvelle "
                       "présentation.")
    if case.status == CaseStatus.WITHDRAWN:
        raise Conflict("Ce dossier a été retiré : la date du premier traitement ne s'y saisit pas.")
    if when is not None:
        if when > today:
            raise ValidationFailed("La date du premier traitement ne peut pas être dans le futur.", field=FIELD)
        if case.diagnosis_date is not None and when < case.diagnosis_date:
            raise ValidationFailed(f"La date du premier traitement ({when:%d/%m/%Y}) précède la date du "
                                   f"diagnostic ({case.diagnosis_date:%d/%m/%Y}).", field=FIELD)
    before = case.first_treatment_date
    case.first_treatment_date = when
    case.first_treatment_by = user.login if when is not None else None
    case.first_treatment_at = (now or now_utc()) if when is not None else None
    record_audit(uow, actor=user.login, action="case.first_treatment", entity="case", entity_id=case.id,
                 patient_id=case.patient_id,
                 detail={"before": before.isoformat() if before else None,
                         "after": when.isoformat() if when else None})
    uow.commit()


def first_treatment(uow: UnitOfWork, case_id: str) -> tuple[date | None, str | None]:
    """The recorded date and who recorded it (the caller checked access)."""
    case = uow.session.get(m.Case, case_id)
    if case is None:
        raise NotFound(f"Dossier « {case_id} » introuvable.")
    return case.first_treatment_date, case.first_treatment_by
