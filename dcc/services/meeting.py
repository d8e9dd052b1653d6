"""Meeting mode of a session: the agenda with each case's summary, the sign-in sheet (the board's members,
who make the quorum, and guests — external experts, residents — who never count for it), one member's
presence changed at a time (the quorum recomputed at once by `boards.record_attendance`), and the reads the
meeting page needs. Acts of the meeting are refused before the session starts, like attendance."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dcc.adapters.db import models as m
from dcc.adapters.db import repositories as repo
from dcc.domain.states import SessionStatus
from dcc.errors import Conflict, NotFound, ValidationFailed
from dcc.services import boards, codes
from dcc.services.attachments import AttachmentView, attachments_of_cases
from dcc.services.audit import record_audit
from dcc.services.queries import AgendaView, professional_name, session_agenda
from dcc.services.schemas import AttendanceInput
from dcc.services.uow import UnitOfWork

GUEST_KINDS = {"expert": "expert extérieur", "resident": "interne", "other": "autre invité"}
ATTACHMENTS_PLACEHOLDER = "aucune pièce jointe"


class GuestInput(BaseModel):
    """A guest signing the sheet: name, kind (expert, resident, other), affiliation, presence mode."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=2, max_length=200)
    kind: Literal["expert", "resident", "other"]
    affiliation: str = Field("", max_length=200)
    mode: Literal["present", "remote"] = "present"

    @field_validator("name")
    @classmethod
    def _printable(cls, v: str) -> str:
        if any(ord(ch) < 32 for ch in v):
            raise ValueError("Le nom de l'invité contient des caractères de contrôle.")
        return v


def _open_session(uow: UnitOfWork, session_id: str, now: datetime | None, refused: str) -> m.Session:
    session = uow.session.get(m.Session, session_id)
    if session is None:
        raise NotFound(f"Séance « {session_id} » introuvable.")
    boards._require_started(session, now, refused)
    if session.status in (SessionStatus.VALIDATED, SessionStatus.CANCELLED):
        raise Conflict("La séance est déjà validée ou annulée : la feuille de présence ne peut plus changer.")
    return session


def add_guest(uow: UnitOfWork, *, session_id: str, data: GuestInput, actor: str,
              now: datetime | None = None) -> str:
    """Sign a guest in (never counted for the quorum); refused before the session starts."""
    session = _open_session(uow, session_id, now, "aucun invité ne peut être inscrit sur la feuille de présence")
    guest = m.MeetingGuest(session_id=session.id, name=data.name, kind=data.kind, affiliation=data.affiliation,
                           mode=data.mode, created_by=actor)
    uow.session.add(guest)
    uow.session.flush()
    record_audit(uow, actor=actor, action="session.guest_add", entity="session", entity_id=session_id,
                 detail={"guest_id": guest.id, "kind": data.kind})
    uow.commit()
    return guest.id


def remove_guest(uow: UnitOfWork, *, session_id: str, guest_id: str, actor: str, now: datetime | None = None) -> None:
    _open_session(uow, session_id, now, "la feuille de présence ne peut pas être modifiée")
    guest = uow.session.get(m.MeetingGuest, guest_id)
    if guest is None or guest.session_id != session_id:
        raise NotFound(f"Invité « {guest_id} » introuvable sur cette séance.")
    uow.session.delete(guest)
    record_audit(uow, actor=actor, action="session.guest_remove", entity="session", entity_id=session_id,
                 detail={"guest_id": guest_id})
    uow.commit()


def set_member_presence(uow: UnitOfWork, *, session_id: str, professional_id: str, mode: str, actor: str,
                        now: datetime | None = None) -> str:
    """One member's presence (present / remote / absent) changed on the sheet; returns the new quorum status.

    Only the board's members are on the sheet (a guest is added with `add_guest`)."""
    session = uow.session.get(m.Session, session_id)
    if session is None:
        raise NotFound(f"Séance « {session_id} » introuvable.")
    if professional_id not in {p.id for p in repo.board_members(uow.session, session.board_id)}:
        raise ValidationFailed("Ce professionnel n'est pas membre de la RCP : inscrivez-le comme invité.",
                               field="professional_id")
    if mode not in ("present", "remote", "absent"):
        raise ValidationFailed("Présence invalide : présent, à distance ou absent.", field="mode")
    return boards.record_attendance(uow, session_id=session_id, data=AttendanceInput(attendance={
        professional_id: mode}), actor=actor, now=now)


# ------------------------------------------------------------------------------------------- reads


@dataclass(frozen=True)
class SheetMember:
    id: str
    name: str
    specialty_code: str
    mode: str  # present | remote | absent | "" (not recorded yet)


@dataclass(frozen=True)
class GuestView:
    id: str
    name: str
    kind: str
    kind_label: str
    affiliation: str
    mode: str


@dataclass(frozen=True)
class CaseSummary:
    case_id: str
    topography: str  # code — label
    morphology: str
    tnm: str
    laterality: str
    phase: str
    motive: str
    summary: str
    question: str
    presenter: str
    attachments: list[AttachmentView]
    decision_status: str | None
    decision_codes: list[str]
    decision_text: str


@dataclass(frozen=True)
class MeetingView:
    agenda: AgendaView
    members: list[SheetMember]
    guests: list[GuestView]
    summaries: dict[str, CaseSummary] = field(default_factory=dict)
    required_specialties: list[str] = field(default_factory=list)


NOT_GIVEN = "non renseigné"


def _label(labels: dict[str, str], code: str | None) -> str:
    """« code — label » with the database's label (the version in force, or the one that retired it)."""
    if not code:
        return NOT_GIVEN
    label = labels.get(code, code)
    return f"{code} — {label}" if label != code else code


def treatment_label(code: str, labels: dict[str, str]) -> str:
    """The value set's display (from the database) with a capital first letter (the set mixes both)."""
    text = labels.get(code, code)
    return text[:1].upper() + text[1:]


def _tnm(case: m.Case) -> str:
    parts = [p for p in (case.tnm_t, case.tnm_n, case.tnm_m) if p]
    if not parts:
        return NOT_GIVEN
    text = " ".join(parts)
    if case.tnm_stage:
        text += f", stade {case.tnm_stage}"
    if case.tnm_edition:
        text += f" (UICC {case.tnm_edition}e éd.)"
    return text


def guests_of(uow: UnitOfWork, session_id: str) -> list[GuestView]:
    rows = uow.session.query(m.MeetingGuest).filter(m.MeetingGuest.session_id == session_id).order_by(
        m.MeetingGuest.created_at, m.MeetingGuest.id).all()
    return [GuestView(id=g.id, name=g.name, kind=g.kind, kind_label=GUEST_KINDS.get(g.kind, g.kind),
                      affiliation=g.affiliation, mode=g.mode) for g in rows]


def meeting_view(uow: UnitOfWork, session_id: str) -> MeetingView:
    agenda = session_agenda(uow, session_id)
    s = uow.session.get(m.Session, session_id)
    assert s is not None
    board = uow.session.get(m.Board, s.board_id)
    assert board is not None
    modes = {a.professional_id: a.mode for a in repo.attendance(uow.session, session_id)}
    members = [SheetMember(id=p.id, name=professional_name(p), specialty_code=p.specialty_code,
                           mode=modes.get(p.id, "")) for p in repo.board_members(uow.session, board.id)]
    cases = {c.id: c for c in repo.cases_of_session(uow.session, session_id)}
    decisions = repo.decisions_of_cases(uow.session, list(cases))
    presenters = repo.professionals_by_ids(uow.session, list({c.presenter_id for c in cases.values()}))
    attached = attachments_of_cases(uow, list(cases))
    labels = {vs: codes.labels(uow, vs, wanted) for vs, wanted in (
        ("JDV_Tumeur_CISIS", [c.topography_code for c in cases.values()]),
        ("JDV_Morphologie_CISIS", [c.morphology_code for c in cases.values() if c.morphology_code]),
        ("JDV_TypeTraitement_FRCP_CISIS", [code for d in decisions.values() for code in d.proposal_codes]))}
    summaries = {}
    for case_id, c in cases.items():
        d = decisions.get(case_id)
        presenter = presenters.get(c.presenter_id)
        summaries[case_id] = CaseSummary(
            case_id=case_id, topography=_label(labels["JDV_Tumeur_CISIS"], c.topography_code),
            morphology=_label(labels["JDV_Morphologie_CISIS"], c.morphology_code), tnm=_tnm(c),
            laterality=c.laterality or NOT_GIVEN, phase="rechute" if c.phase == "relapse" else "initiale",
            motive=c.motive or NOT_GIVEN, summary=c.summary or NOT_GIVEN, question=c.question or NOT_GIVEN,
            presenter=f"Dr {professional_name(presenter)}" if presenter else NOT_GIVEN,
            attachments=attached[case_id],
            decision_status=d.case_status if d else None,
            decision_codes=[treatment_label(code, labels["JDV_TypeTraitement_FRCP_CISIS"])
                            for code in (d.proposal_codes if d else [])],
            decision_text=d.proposal_text if d else "")
    return MeetingView(agenda=agenda, members=members, guests=guests_of(uow, session_id), summaries=summaries,
                       required_specialties=list(board.required_specialties))
