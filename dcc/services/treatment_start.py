"""The first-treatment date of a case: entered afterwards by the care team (or the board's coordinator), used
by the network's indicators (discussed before the first treatment, delay RCP → first treatment).

HAS 2006: every new case is presented before the first treatment starts (« avant mise en route du
primo-traitement »); the date is what a person entered, never derived from the plan (PPS dates are planned,
not done). Refused before the diagnosis date or in the future; clearing it (None) says « non renseigné ».
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import or_, select

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


def _check(case: m.Case, when: date, today: date) -> str | None:
    """The French reason a date is refused for the case, None when it is accepted."""
    if case.status == CaseStatus.REPRESENTED:
        return "dossier représenté (saisir la date sur sa nouvelle présentation)"
    if case.status == CaseStatus.WITHDRAWN:
        return "dossier retiré"
    if when > today:
        return "date dans le futur"
    if case.diagnosis_date is not None and when < case.diagnosis_date:
        return f"date antérieure au diagnostic ({case.diagnosis_date:%d/%m/%Y})"
    return None


def _parse_day(raw: str) -> date | None:
    raw = raw.strip()
    try:
        if "/" in raw:
            day, month, year = raw.split("/")
            return date(int(year), int(month), int(day))
        return date.fromisoformat(raw)
    except ValueError:
        return None


def import_first_treatments(uow: UnitOfWork, content: str, *, actor: str, today: date,
                            now: datetime | None = None) -> int:
    """Import first-treatment dates from a hospital's export: CSV (UTF-8, `;` or `,`) with a header line
    `dossier;date_premier_traitement`, `dossier` being the case's registration number or id, the date
    AAAA-MM-JJ or JJ/MM/AAAA. All or nothing: any refused line refuses the file with every line's French reason
    (nothing written). Each recorded date is audited (`case.first_treatment`, source « import »)."""
    content = content.lstrip("\ufeff")
    lines = [line for line in content.splitlines() if line.strip()]
    if not lines:
        raise ValidationFailed("Fichier vide : attendu l'en-tête « dossier;date_premier_traitement ».")
    sep = ";" if ";" in lines[0] else ","
    header = [h.strip().lower() for h in lines[0].split(sep)]
    if header[:2] != ["dossier", "date_premier_traitement"]:
        raise ValidationFailed("En-tête attendu : « dossier;date_premier_traitement ».")
    errors: list[str] = []
    accepted: list[tuple[m.Case, date]] = []
    seen: set[str] = set()
    for number, line in enumerate(lines[1:], start=2):
        cells = [c.strip() for c in line.split(sep)]
        if len(cells) < 2 or not cells[0]:
            errors.append(f"ligne {number} : deux colonnes attendues (dossier, date)")
            continue
        key, when = cells[0], _parse_day(cells[1])
        if when is None:
            errors.append(f"ligne {number} : date illisible « {cells[1][:20]} » (AAAA-MM-JJ ou JJ/MM/AAAA)")
            continue
        found = list(uow.session.scalars(select(m.Case).where(
            or_(m.Case.id == key, m.Case.registration_number == key)).limit(2)))
        if len(found) != 1:
            errors.append(f"ligne {number} : dossier « {key[:40]} » " + ("introuvable" if not found else "ambigu"))
            continue
        case = found[0]
        if case.id in seen:
            errors.append(f"ligne {number} : dossier « {key[:40]} » présent deux fois")
            continue
        seen.add(case.id)
        reason = _check(case, when, today)
        if reason:
            errors.append(f"ligne {number} : {reason}")
            continue
        accepted.append((case, when))
    if errors:
        uow.rollback()
        raise ValidationFailed("Import refusé, rien n'a été enregistré : " + " ; ".join(errors[:50])
                               + (f" ; … ({len(errors) - 50} autres)" if len(errors) > 50 else ""))
    at = now or now_utc()
    for case, when in accepted:
        before = case.first_treatment_date
        case.first_treatment_date, case.first_treatment_by, case.first_treatment_at = when, actor, at
        record_audit(uow, actor=actor, action="case.first_treatment", entity="case", entity_id=case.id,
                     patient_id=case.patient_id,
                     detail={"before": before.isoformat() if before else None, "after": when.isoformat(),
                             "source": "import"})
    uow.commit()
    return len(accepted)
