"""The PPS (Programme Personnalisé de Soins) is authored by the care team, never generated.

A plan is opened from a locked, quorate, discussed decision: it pre-lists only what the decision holds (its
treatment kinds as PPS treatment kinds, the board, the referent physician = the board's responsible
physician), with no date, place or text. The responsible physician or a coordinating nurse (`ide`) then
enters the planned treatments (kind, planned period or single date, place, responsible professional, free
text), the follow-up, supportive care and social support from their CI-SIS value sets, and the contact.
Submitting renders the PPS CDA + PDF from the stored plan only: a draft in the responsible physician's
signing queue (the same path as the Fiche RCP).

Hand-over date (GEN-178, "date de remise du document au patient"): it is a fact that happens *after* the
signed plan exists (the PPS is given to the patient at a consultation). A signed PPS never changes, so the
date is recorded on the plan (audited, `pps.handover`) and is not written into the already signed document:
version 1 carries GEN-178 as nullFlavor NAV ("non renseigné"); any later version (a correction) states the
date known when it is rendered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

from sqlalchemy import select

from dcc.adapters.db import models as m
from dcc.adapters.db import repositories as repo
from dcc.domain import documents as d
from dcc.domain.ports import CdaBuilder, PdfRenderer
from dcc.errors import Conflict, IncompleteData, NotFound, ValidationFailed
from dcc.services import codes
from dcc.services.audit import record_audit
from dcc.services.content import Loader, new_oid, paris_day, pps_content, pps_treatment_codes
from dcc.services.uow import UnitOfWork

Category = Literal["treatment", "follow_up", "supportive", "social"]
# The value set of each category (CI-SIS volet PPS, "Programme personnalisé de soins" entries)
VALUE_SETS: dict[str, str] = {
    "treatment": "JDV_TypeTraitementPPS_CISIS",
    "follow_up": "JDV_TypeDeSuivi_CISIS",
    "supportive": "JDV_SoinsOncoDeSupport_CISIS",
    "social": "JDV_TypeAccompagnementSocioPro_CISIS",
}
CATEGORY_LABELS = {"treatment": "traitement programmé", "follow_up": "suivi", "supportive": "soin de support",
                   "social": "accompagnement social"}
DATED = ("treatment", "follow_up")  # the categories with a planned period, a place and a responsible
AUTHORING, SUBMITTED = "authoring", "submitted"
STATUS_LABELS = {AUTHORING: "en cours de rédaction", SUBMITTED: "soumis à la signature"}
PHONE = re.compile(r"^\+?[0-9 .]{6,20}$")
MAX_TEXT, MAX_PLACE, MAX_NAME = 2000, 200, 200


@dataclass(frozen=True)
class PpsItemInput:
    """One line of the plan as entered. `start` alone with `end` equal to it is a single date."""

    category: str
    code: str
    start: date | None = None
    end: date | None = None
    place: str = ""
    responsible_id: str | None = None  # professional (directory id)
    text: str = ""


@dataclass(frozen=True)
class PlanInput:
    items: tuple[PpsItemInput, ...]
    contact_name: str = ""
    contact_phone: str = ""


@dataclass
class PlanView:
    id: str
    case_id: str
    status: str
    referent_id: str
    contact_name: str
    contact_phone: str
    handed_at: date | None
    document_id: str | None
    meeting_day: date
    allowed_treatments: list[str]
    created_by: str
    updated_by: str
    updated_at: datetime
    items: list[m.PpsItem] = field(default_factory=list)


# ------------------------------------------------------------------------------------------- validation


def _decision_for_pps(uow: UnitOfWork, case_id: str) -> tuple[m.Case, m.Decision]:
    case = uow.session.get(m.Case, case_id)
    if case is None:
        raise NotFound(f"Dossier « {case_id} » introuvable.")
    decision = repo.decision_of_case(uow.session, case_id)
    if decision is None or not decision.locked:
        raise Conflict("Le PPS ne peut être rédigé qu'après la validation de la décision de la RCP.")
    if decision.case_status != "discussed":
        raise Conflict("Le PPS suit une proposition discutée en RCP : ce dossier a été seulement enregistré.")
    if decision.quorum != "met":
        raise Conflict("Le quorum de la RCP n'était pas atteint : la décision ne permet pas d'établir un PPS.")
    return case, decision


def meeting_day(uow: UnitOfWork, decision: m.Decision) -> date:
    session = uow.session.get(m.Session, decision.session_id)
    assert session is not None
    return paris_day(session.starts_at)


def validate_plan(uow: UnitOfWork, decision: m.Decision, data: PlanInput) -> None:
    """Every entry in its value set, within the decided proposal, with coherent dates; French error naming
    the field (`items[i].champ`). Reads only."""
    allowed = pps_treatment_codes(decision.proposal_codes)
    day = meeting_day(uow, decision)
    for i, item in enumerate(data.items):
        where = f"items[{i}]"
        if item.category not in VALUE_SETS:
            raise ValidationFailed(f"Ligne {i + 1} : catégorie « {item.category} » inconnue (attendu : "
                                   "traitement, suivi, soin de support ou accompagnement social).",
                                   field=f"{where}.category")
        label = CATEGORY_LABELS[item.category]
        found = codes.check(uow, [codes.CodedEntry(f"{where}.code", f"ligne {i + 1}, {label}",
                                                   VALUE_SETS[item.category], item.code)])
        if item.category == "treatment" and item.code not in allowed:
            display = found[(VALUE_SETS["treatment"], item.code)].display
            raise ValidationFailed(
                f"Ligne {i + 1} : le traitement « {display} » ne fait pas partie de la proposition de la RCP ; "
                "la proposition de la RCP ne peut être modifiée que par une nouvelle présentation en RCP.",
                field=f"{where}.code")
        if item.category not in DATED and (item.start or item.end or item.place or item.responsible_id):
            raise ValidationFailed(f"Ligne {i + 1} : un {label} n'a ni dates, ni lieu, ni responsable "
                                   "(précisez-les dans le texte).", field=f"{where}.start")
        if item.end is not None and item.start is None:
            raise ValidationFailed(f"Ligne {i + 1} ({label}) : indiquez la date de début avant la date de fin.",
                                   field=f"{where}.start")
        if item.start is not None and item.start < day:
            raise ValidationFailed(f"Ligne {i + 1} ({label}) : la date de début ({item.start:%d/%m/%Y}) précède "
                                   f"la RCP du {day:%d/%m/%Y}.", field=f"{where}.start")
        if item.start is not None and item.end is not None and item.end < item.start:
            raise ValidationFailed(f"Ligne {i + 1} ({label}) : la date de fin ({item.end:%d/%m/%Y}) précède la "
                                   f"date de début ({item.start:%d/%m/%Y}).", field=f"{where}.end")
        if len(item.place) > MAX_PLACE:
            raise ValidationFailed(f"Ligne {i + 1} : le lieu dépasse {MAX_PLACE} caractères.",
                                   field=f"{where}.place")
        if len(item.text) > MAX_TEXT:
            raise ValidationFailed(f"Ligne {i + 1} : le texte dépasse {MAX_TEXT} caractères.",
                                   field=f"{where}.text")
        if item.responsible_id is not None and uow.session.get(m.Professional, item.responsible_id) is None:
            raise ValidationFailed(f"Ligne {i + 1} : professionnel responsable « {item.responsible_id} » "
                                   "inconnu de l'annuaire.", field=f"{where}.responsible_id")
    if len(data.contact_name) > MAX_NAME:
        raise ValidationFailed(f"Le nom du contact dépasse {MAX_NAME} caractères.", field="contact_name")
    if data.contact_phone and not PHONE.match(data.contact_phone):
        raise ValidationFailed("Le téléphone du contact doit ne contenir que des chiffres (6 à 20).",
                               field="contact_phone")


# ------------------------------------------------------------------------------------------- use cases


def plan_of_case(uow: UnitOfWork, case_id: str) -> m.PpsPlan | None:
    return uow.session.scalars(select(m.PpsPlan).where(m.PpsPlan.case_id == case_id)).one_or_none()


def _items(uow: UnitOfWork, plan_id: str) -> list[m.PpsItem]:
    q = select(m.PpsItem).where(m.PpsItem.plan_id == plan_id).order_by(m.PpsItem.position, m.PpsItem.id)
    return list(uow.session.scalars(q).all())


def _require_plan(uow: UnitOfWork, case_id: str) -> m.PpsPlan:
    plan = plan_of_case(uow, case_id)
    if plan is None:
        raise NotFound("Aucun PPS n'est en cours de rédaction pour ce dossier.")
    return plan


def _item_dict(item: m.PpsItem | PpsItemInput) -> dict[str, Any]:
    return {"category": item.category, "code": item.code,
            "start": item.start.isoformat() if item.start else None,
            "end": item.end.isoformat() if item.end else None, "place": item.place,
            "responsible_id": item.responsible_id, "text": item.text}


def open_plan(uow: UnitOfWork, *, case_id: str, actor: str, now: datetime | None = None) -> str:
    """Open the PPS draft of a discussed, quorate, locked decision (idempotent: returns the existing plan).

    Pre-lists the decision's treatment kinds (no date, place, text); referent = the board's responsible."""
    case, decision = _decision_for_pps(uow, case_id)
    existing = plan_of_case(uow, case_id)
    if existing is not None:
        return existing.id
    kinds = pps_treatment_codes(decision.proposal_codes)
    if not kinds:
        raise Conflict("La proposition de la RCP ne comporte aucun traitement à programmer dans un PPS.")
    board = uow.session.get(m.Board, case.board_id)
    assert board is not None
    at = now or datetime.now(UTC)
    plan = m.PpsPlan(case_id=case.id, decision_id=decision.id, status=AUTHORING, referent_id=board.responsible_id,
                     created_by=actor, created_at=at, updated_by=actor, updated_at=at)
    uow.session.add(plan)
    uow.session.flush()
    for pos, code in enumerate(kinds):
        uow.session.add(m.PpsItem(plan_id=plan.id, category="treatment", position=pos, code=code))
    uow.session.flush()
    record_audit(uow, actor=actor, action="pps.open", entity="pps_plan", entity_id=plan.id,
                 patient_id=case.patient_id, detail={"case_id": case.id, "treatments": kinds})
    uow.commit()
    return plan.id


def _replace_items(uow: UnitOfWork, plan: m.PpsPlan, items: tuple[PpsItemInput, ...]) -> None:
    for old in _items(uow, plan.id):
        uow.session.delete(old)
    uow.session.flush()
    for pos, item in enumerate(items):
        uow.session.add(m.PpsItem(plan_id=plan.id, category=item.category, position=pos, code=item.code,
                                  start=item.start, end=item.end, place=item.place.strip(),
                                  responsible_id=item.responsible_id, text=item.text.strip()))
    uow.session.flush()


def _editable(uow: UnitOfWork, case_id: str) -> tuple[m.Case, m.Decision, m.PpsPlan]:
    case, decision = _decision_for_pps(uow, case_id)
    plan = _require_plan(uow, case_id)
    if plan.status != AUTHORING:
        raise Conflict("Le PPS a été soumis à la signature : il ne change plus que par une nouvelle version "
                       "(correction).")
    return case, decision, plan


def update_plan(uow: UnitOfWork, *, case_id: str, data: PlanInput, actor: str, now: datetime | None = None) -> None:
    """Replace the plan's items and contact (validated first: nothing is written on error)."""
    case, decision, plan = _editable(uow, case_id)
    validate_plan(uow, decision, data)
    before = [_item_dict(i) for i in _items(uow, plan.id)]
    _replace_items(uow, plan, data.items)
    plan.contact_name, plan.contact_phone = data.contact_name.strip(), data.contact_phone.strip()
    plan.updated_by, plan.updated_at = actor, now or datetime.now(UTC)
    record_audit(uow, actor=actor, action="pps.edit", entity="pps_plan", entity_id=plan.id,
                 patient_id=case.patient_id,
                 detail={"before": before, "after": [_item_dict(i) for i in data.items],
                         "contact": [plan.contact_name, plan.contact_phone]})
    uow.commit()


def current_input(uow: UnitOfWork, plan: m.PpsPlan) -> PlanInput:
    return PlanInput(items=tuple(PpsItemInput(category=i.category, code=i.code, start=i.start, end=i.end,
                                              place=i.place, responsible_id=i.responsible_id, text=i.text)
                                 for i in _items(uow, plan.id)),
                     contact_name=plan.contact_name, contact_phone=plan.contact_phone)


def add_item(uow: UnitOfWork, *, case_id: str, item: PpsItemInput, actor: str, now: datetime | None = None) -> None:
    _, _, plan = _editable(uow, case_id)
    data = current_input(uow, plan)
    update_plan(uow, case_id=case_id, data=PlanInput(items=(*data.items, item), contact_name=data.contact_name,
                                                     contact_phone=data.contact_phone), actor=actor, now=now)


def remove_item(uow: UnitOfWork, *, case_id: str, item_id: str, actor: str, now: datetime | None = None) -> None:
    _, _, plan = _editable(uow, case_id)
    items = _items(uow, plan.id)
    if not any(i.id == item_id for i in items):
        raise NotFound(f"Ligne « {item_id} » introuvable dans ce PPS.")
    kept = tuple(PpsItemInput(category=i.category, code=i.code, start=i.start, end=i.end, place=i.place,
                              responsible_id=i.responsible_id, text=i.text) for i in items if i.id != item_id)
    update_plan(uow, case_id=case_id, data=PlanInput(items=kept, contact_name=plan.contact_name,
                                                     contact_phone=plan.contact_phone), actor=actor, now=now)


def current_frcp(uow: UnitOfWork, case_id: str) -> m.Document | None:
    frcps = [doc for doc in repo.documents_of_case(uow.session, case_id)
             if doc.kind == d.DocumentKind.FRCP.value and doc.status != d.DocumentStatus.SUPERSEDED.value]
    return max(frcps, key=lambda doc: doc.version) if frcps else None


def render_plan(uow: UnitOfWork, case: m.Case, decision: m.Decision, plan: m.PpsPlan, *, ids: d.DocumentIds,
                now: datetime, cda: CdaBuilder, pdf: PdfRenderer, update_motive: str | None = None,
                what: str = "le PPS") -> tuple[bytes, bytes]:
    """The PPS CDA and PDF of the stored plan (nothing else)."""
    frcp = current_frcp(uow, case.id)
    if frcp is None:
        raise IncompleteData(["fiche RCP de référence"], what=what)
    content = pps_content(Loader(uow), case, decision, ids=ids, now=now, frcp_unique_id=frcp.unique_id, plan=plan,
                          items=_items(uow, plan.id), update_motive=update_motive)
    missing = d.missing_fields_pps(content)
    if missing:
        raise IncompleteData(missing, what=what)
    return cda.build_pps(content), pdf.render_pps(content)


def submit_plan(uow: UnitOfWork, *, case_id: str, actor: str, cda: CdaBuilder, pdf: PdfRenderer,
                now: datetime | None = None) -> str:
    """Render the PPS of the plan (draft in the responsible physician's signing queue); returns its id."""
    from dcc.services.documents import _store

    case, decision, plan = _editable(uow, case_id)
    if not any(i.category == "treatment" for i in _items(uow, plan.id)):
        raise ValidationFailed("Le PPS doit comporter au moins un traitement programmé avant d'être soumis à la "
                               "signature.", field="items")
    validate_plan(uow, decision, current_input(uow, plan))  # the decision may have been corrected meanwhile
    at = now or datetime.now(UTC)
    ids = d.DocumentIds(unique_id_root=new_oid(), set_id_root=new_oid(), version=1)
    cda_bytes, pdf_bytes = render_plan(uow, case, decision, plan, ids=ids, now=at, cda=cda, pdf=pdf)
    board = uow.session.get(m.Board, case.board_id)
    assert board is not None
    doc_id = _store(uow, case, board, d.DocumentKind.PPS, ids, cda_bytes, pdf_bytes, pdf.template_version,
                    actor=actor)
    plan.status, plan.document_id = SUBMITTED, doc_id
    plan.updated_by, plan.updated_at = actor, at
    record_audit(uow, actor=actor, action="pps.submit", entity="pps_plan", entity_id=plan.id,
                 patient_id=case.patient_id, detail={"document_id": doc_id, "unique_id": ids.unique_id_root})
    uow.commit()
    return doc_id


def record_handover(uow: UnitOfWork, *, case_id: str, handed_at: date, actor: str, today: date) -> None:
    """GEN-178: the day the signed PPS was handed to the patient. Recorded on the plan, not in the signed
    document (see the module docstring); refused before the meeting, in the future, or before signature."""
    case, decision = _decision_for_pps(uow, case_id)
    plan = _require_plan(uow, case_id)
    signed = [doc for doc in repo.documents_of_case(uow.session, case_id)
              if doc.kind == d.DocumentKind.PPS.value and doc.signed_at is not None]
    if not signed:
        raise Conflict("Le PPS n'est pas encore signé : il ne peut pas avoir été remis au patient.")
    day = meeting_day(uow, decision)
    if handed_at < day:
        raise ValidationFailed(f"La date de remise ({handed_at:%d/%m/%Y}) précède la RCP du {day:%d/%m/%Y}.",
                               field="handed_at")
    first_signed = min(paris_day(doc.signed_at) for doc in signed if doc.signed_at is not None)
    if handed_at < first_signed:
        raise ValidationFailed(f"La date de remise ({handed_at:%d/%m/%Y}) précède la signature du PPS "
                               f"({first_signed:%d/%m/%Y}).", field="handed_at")
    if handed_at > today:
        raise ValidationFailed("La date de remise au patient ne peut pas être dans le futur.", field="handed_at")
    before = plan.handed_at
    plan.handed_at = handed_at
    plan.updated_by, plan.updated_at = actor, datetime.now(UTC)
    record_audit(uow, actor=actor, action="pps.handover", entity="pps_plan", entity_id=plan.id,
                 patient_id=case.patient_id,
                 detail={"before": before.isoformat() if before else None, "after": handed_at.isoformat()})
    uow.commit()


def plan_view(uow: UnitOfWork, case_id: str) -> PlanView:
    plan = _require_plan(uow, case_id)
    decision = uow.session.get(m.Decision, plan.decision_id)
    assert decision is not None
    return PlanView(id=plan.id, case_id=plan.case_id, status=plan.status, referent_id=plan.referent_id,
                    contact_name=plan.contact_name, contact_phone=plan.contact_phone, handed_at=plan.handed_at,
                    document_id=plan.document_id, meeting_day=meeting_day(uow, decision),
                    allowed_treatments=pps_treatment_codes(decision.proposal_codes), created_by=plan.created_by,
                    updated_by=plan.updated_by, updated_at=plan.updated_at, items=_items(uow, plan.id))


def cases_awaiting_pps(uow: UnitOfWork, case_ids: list[str] | None = None) -> list[tuple[m.Case, m.PpsPlan | None]]:
    """Discussed, quorate, locked decisions with a PPS treatment kind whose PPS is not submitted yet
    (restricted to `case_ids` when given)."""
    q = (select(m.Case, m.Decision).join(m.Decision, m.Decision.case_id == m.Case.id)
         .where(m.Decision.locked.is_(True), m.Decision.case_status == "discussed", m.Decision.quorum == "met"))
    if case_ids is not None:
        q = q.where(m.Case.id.in_(case_ids))
    rows = uow.session.execute(q.order_by(m.Case.created_at, m.Case.id)).all()
    plans = {p.case_id: p for p in uow.session.scalars(
        select(m.PpsPlan).where(m.PpsPlan.case_id.in_([case.id for case, _ in rows])))}
    out = []
    for case, decision in rows:
        plan = plans.get(case.id)
        if plan is not None and plan.status != AUTHORING:
            continue
        if pps_treatment_codes(decision.proposal_codes):
            out.append((case, plan))
    return out


__all__ = ["PlanInput", "PpsItemInput", "add_item", "open_plan", "record_handover", "remove_item", "submit_plan",
           "update_plan", "validate_plan"]


# ------------------------------------------------------------------------------ reads for the PPS pages


@dataclass(frozen=True)
class PageData:
    """What the PPS page shows besides the plan: the case, the patient's name, the board's members and the
    name of every professional a line names."""

    case: m.Case
    patient: str
    members: list[m.Professional]
    people: dict[str, str]


def page_data(uow: UnitOfWork, case_id: str, view: PlanView | None) -> PageData:
    case = uow.session.get(m.Case, case_id)
    if case is None:
        raise NotFound(f"Dossier « {case_id} » introuvable.")
    from dcc.services.queries import display_name, professional_name

    patient = uow.session.get(m.Patient, case.patient_id)
    members = list(repo.board_members(uow.session, case.board_id))
    people = {p.id: professional_name(p) for p in members}
    others = [i.responsible_id for i in (view.items if view else []) if i.responsible_id
              and i.responsible_id not in people]
    for pid, prof in repo.professionals_by_ids(uow.session, others).items():
        people[pid] = professional_name(prof)
    people.update({pid: pid for pid in others if pid not in people})
    return PageData(case=case, patient=display_name(patient) if patient else "", members=members, people=people)


def patient_names(uow: UnitOfWork, patient_ids: list[str]) -> dict[str, str]:
    from dcc.services.queries import display_name

    return {pid: display_name(p) for pid, p in repo.patients_by_ids(uow.session, patient_ids).items()}
