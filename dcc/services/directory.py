"""Board directory use cases: create a board (RCP) under an establishment, with members and quorum rule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from dcc import valuesets
from dcc.adapters.db import models as m
from dcc.adapters.db import repositories as repo
from dcc.domain.calendar import PARIS, SessionRule
from dcc.domain.identifiers import validate_finess
from dcc.domain.quorum import ORGAN_BOARD_REQUIRED, SPECIALTY_GROUPS
from dcc.domain.states import SessionStatus, advance
from dcc.errors import Conflict, NotFound, ValidationFailed
from dcc.services.audit import record_audit
from dcc.services.uow import UnitOfWork

APPAREIL_VS = "JDV_RCP_Appareil_CISIS"
ORGANE_VS = "JDV_RCP_Organe_CISIS"
TRANSVERSAL_VS = "JDV_TraitementSoins_FRCP_CISIS"
SPECIALTY_VS = "JDV_J01_XdsAuthorSpecialty_CISIS"


class BoardCreation(BaseModel):
    """A new board (RCP). Codes are checked against the CI-SIS value sets by `create_board`."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    establishment_id: str = Field(min_length=1, description="Établissement (3C / gestionnaire de RCP)")
    rcp_id: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9._-]+$",
                        description="Identifiant de la RCP dans l'annuaire national des RCP")
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["organ", "transversal"] = Field(
        description="organ : RCP d'organe ; transversal : RCP transversale")
    appareil_code: str | None = Field(None, description="Code JDV_RCP_Appareil_CISIS (RCP d'organe)")
    organe_code: str | None = Field(None, description="Code JDV_RCP_Organe_CISIS (RCP d'organe)")
    transversal_code: str | None = Field(
        None, description="Code JDV_TraitementSoins_FRCP_CISIS (RCP transversale)")
    recours: bool = Field(False, description="RCP de recours (expertise régionale)")
    pediatric: bool = False
    recurrence: str = Field(min_length=1, max_length=200,
                            description="Règle RFC 5545, ex. FREQ=WEEKLY;BYDAY=TU")
    start_time: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
                            description="Heure locale (Europe/Paris), HH:MM")
    duration_min: int = Field(90, ge=15, le=600)
    capacity: int = Field(20, ge=1, le=200, description="Nombre de dossiers par séance")
    deadline_working_days: int = Field(2, ge=0, le=20, description="Délai d'inscription en jours ouvrés")
    place: str = Field("", max_length=200)
    video_link: str = Field("", max_length=500)
    required_specialties: list[str] | None = Field(
        None, description="Spécialités exigées au quorum ; par défaut pour une RCP d'organe : chirurgien, "
        "oncologue médical, radiothérapeute")
    responsible_id: str = Field(min_length=1, description="Médecin responsable (signataire des documents)")
    coordinator_id: str = Field(min_length=1, description="Coordonnateur / secrétariat de la RCP")
    member_ids: list[str] = Field(default_factory=list, description="Membres (professionnels) de la RCP")


def _check_code(value_set: str, code: str | None, field: str, *, required: bool,
                kind_label: str) -> str | None:
    if code is None or code == "":
        if required:
            what = {"appareil_code": "L'appareil", "transversal_code": "Le thème transversal"}.get(
                field, f"Le champ « {field} »")
            raise ValidationFailed(f"{what} est obligatoire pour une {kind_label}.", field=field)
        return None
    return valuesets.lookup(value_set, code, field=field).code


def _check_specialties(codes: list[str]) -> list[str]:
    for index, code in enumerate(codes):
        if code not in SPECIALTY_GROUPS and not valuesets.contains(SPECIALTY_VS, code):
            raise ValidationFailed(
                f"La spécialité « {code} » est inconnue (ni groupe {', '.join(sorted(SPECIALTY_GROUPS))}, "
                f"ni code {SPECIALTY_VS}).", field=f"required_specialties[{index}]")
    return list(dict.fromkeys(codes))


def _checked(uow: UnitOfWork, data: BoardCreation, *, board_id: str | None = None) -> dict[str, object]:
    """Check a board's codes, recurrence, establishment and people (French errors); its column values."""
    if data.kind == "organ":
        appareil = _check_code(APPAREIL_VS, data.appareil_code, "appareil_code", required=True,
                               kind_label="RCP d'organe")
        organe = _check_code(ORGANE_VS, data.organe_code, "organe_code", required=False,
                             kind_label="RCP d'organe")
        transversal = None
        if data.transversal_code:
            raise ValidationFailed("Une RCP d'organe ne porte pas de code transversal.",
                                   field="transversal_code")
    else:
        transversal = _check_code(TRANSVERSAL_VS, data.transversal_code, "transversal_code", required=True,
                                  kind_label="RCP transversale")
        appareil = organe = None
        for field in ("appareil_code", "organe_code"):
            if getattr(data, field):
                raise ValidationFailed("Une RCP transversale ne porte pas de code d'appareil ni d'organe.",
                                       field=field)
    hh, mm = (int(x) for x in data.start_time.split(":"))
    SessionRule(rrule=data.recurrence, start_time=time(hh, mm), duration_minutes=data.duration_min)
    if data.video_link and not data.video_link.startswith("https://"):
        raise ValidationFailed("Le lien de visioconférence doit commencer par https://.", field="video_link")
    if data.required_specialties is None:
        required = sorted(ORGAN_BOARD_REQUIRED) if data.kind == "organ" else []
    else:
        required = _check_specialties(data.required_specialties)

    if uow.session.get(m.Establishment, data.establishment_id) is None:
        raise ValidationFailed(f"L'établissement « {data.establishment_id} » n'existe pas.",
                               field="establishment_id")
    same = repo.board_by_rcp_id(uow.session, data.rcp_id)
    if same is not None and same.id != board_id:
        raise Conflict(f"Une RCP porte déjà l'identifiant national « {data.rcp_id} ».", field="rcp_id")
    people = [data.responsible_id, data.coordinator_id, *data.member_ids]
    found = repo.professionals_by_ids(uow.session, people)
    for field, pid in (("responsible_id", data.responsible_id), ("coordinator_id", data.coordinator_id)):
        if pid not in found:
            raise ValidationFailed(f"Aucun professionnel avec l'identifiant « {pid} ».", field=field)
    for index, pid in enumerate(data.member_ids):
        if pid not in found:
            raise ValidationFailed(f"Aucun professionnel avec l'identifiant « {pid} ».",
                                   field=f"member_ids[{index}]")
    if not found[data.responsible_id].is_physician:
        raise ValidationFailed("Le responsable de la RCP doit être un médecin.", field="responsible_id")
    return dict(
        establishment_id=data.establishment_id, rcp_id=data.rcp_id, name=data.name, kind=data.kind,
        appareil_code=appareil, organe_code=organe, transversal_code=transversal, recours=data.recours,
        pediatric=data.pediatric, recurrence=data.recurrence.strip(), start_time=data.start_time,
        duration_min=data.duration_min, capacity=data.capacity,
        deadline_working_days=data.deadline_working_days,
        place=data.place, video_link=data.video_link, required_specialties=required,
        responsible_id=data.responsible_id, coordinator_id=data.coordinator_id,
    )


def create_board(uow: UnitOfWork, *, data: BoardCreation, actor: str = "system") -> str:
    """Create a board after checking its codes, recurrence, establishment and people. Returns its id."""
    values = _checked(uow, data)
    board = m.Board(**values)
    uow.session.add(board)
    uow.session.flush()
    for pid in dict.fromkeys([data.responsible_id, data.coordinator_id, *data.member_ids]):
        uow.session.add(m.BoardMember(board_id=board.id, professional_id=pid))
    uow.session.flush()
    record_audit(uow, actor=actor, action="board.create", entity="board", entity_id=board.id,
                 detail={"rcp_id": data.rcp_id})
    uow.commit()
    return board.id


def update_board(uow: UnitOfWork, *, board_id: str, data: BoardCreation, actor: str = "system") -> list[str]:
    """Edit a board with the creation's checks; its members become exactly the responsible, the coordinator
    and `member_ids`. Sessions already planned keep their date and capacity (move or cancel them one by one);
    later planning follows the new rule. Returns the names of the fields changed (audited)."""
    board = uow.session.get(m.Board, board_id)
    if board is None:
        raise NotFound(f"RCP « {board_id} » introuvable.")
    if not board.active:
        raise Conflict("La RCP est désactivée : elle ne peut plus être modifiée.")
    values = _checked(uow, data, board_id=board_id)
    changed = [k for k, v in values.items() if getattr(board, k) != v]
    for key in changed:
        setattr(board, key, values[key])
    wanted = list(dict.fromkeys([data.responsible_id, data.coordinator_id, *data.member_ids]))
    current = {bm.professional_id: bm for bm in uow.session.scalars(
        select(m.BoardMember).where(m.BoardMember.board_id == board_id)).all()}
    for pid, row in current.items():
        if pid not in wanted:
            uow.session.delete(row)
    for pid in wanted:
        if pid not in current:
            uow.session.add(m.BoardMember(board_id=board_id, professional_id=pid))
    if set(wanted) != set(current):
        changed.append("members")
    uow.session.flush()
    record_audit(uow, actor=actor, action="board.update", entity="board", entity_id=board_id,
                 detail={"changed": changed})
    uow.commit()
    return changed


@dataclass
class Deactivation:
    cancelled_sessions: int


def deactivate_board(uow: UnitOfWork, *, board_id: str, today: date, actor: str = "system") -> Deactivation:
    """Deactivate a board: no new session is planned nor case registered; its empty future sessions are
    cancelled. Refused (nothing written) while cases wait on it (pending or assigned): move or withdraw them
    first. Its history (sessions held, decisions, documents) stays."""
    board = uow.session.get(m.Board, board_id)
    if board is None:
        raise NotFound(f"RCP « {board_id} » introuvable.")
    if not board.active:
        raise Conflict("La RCP est déjà désactivée.")
    open_cases = uow.session.scalar(select(func.count()).select_from(m.Case).where(
        m.Case.board_id == board_id, m.Case.status.in_(["pending", "assigned"]))) or 0
    if open_cases:
        raise Conflict(f"{open_cases} dossier(s) en attente ou inscrit(s) à une séance de cette RCP : "
                       "déplacez-les ou retirez-les avant de désactiver la RCP.", field="board_id")
    cancelled = 0
    for session in repo.sessions_of_board(uow.session, board_id):
        if session.status == SessionStatus.PLANNED and session.starts_at.astimezone(PARIS).date() >= today:
            advance(session, SessionStatus.CANCELLED)
            cancelled += 1
    board.active = False
    uow.session.flush()
    record_audit(uow, actor=actor, action="board.deactivate", entity="board", entity_id=board_id,
                 detail={"cancelled_sessions": cancelled})
    uow.commit()
    return Deactivation(cancelled_sessions=cancelled)


# --------------------------------------------------------------------------- reads of the directory pages


@dataclass(frozen=True)
class DirectoryRow:
    board: m.Board
    establishment: m.Establishment
    members: int


def board_directory(uow: UnitOfWork, boards: list[m.Board]) -> list[DirectoryRow]:
    """The directory rows of `boards` (already scoped by the caller): establishment and member count."""
    ids = [b.id for b in boards]
    counts = dict(uow.session.execute(select(m.BoardMember.board_id, func.count()).where(
        m.BoardMember.board_id.in_(ids)).group_by(m.BoardMember.board_id)).all())
    ests = {e.id: e for e in uow.session.scalars(select(m.Establishment).where(
        m.Establishment.id.in_({b.establishment_id for b in boards}))).all()}
    return [DirectoryRow(board=b, establishment=ests[b.establishment_id], members=int(counts.get(b.id, 0)))
            for b in sorted(boards, key=lambda b: (not b.active, b.name))]


@dataclass(frozen=True)
class MemberRow:
    professional: m.Professional
    roles: list[str]  # "responsable", "coordonnateur", "membre permanent"


def board_members(uow: UnitOfWork, board: m.Board) -> list[MemberRow]:
    rows = []
    for p in repo.board_members(uow.session, board.id):
        roles = [label for pid, label in ((board.responsible_id, "responsable"),
                                          (board.coordinator_id, "coordonnateur")) if pid == p.id]
        rows.append(MemberRow(professional=p, roles=roles or ["membre permanent"]))
    return rows


def establishment(uow: UnitOfWork, establishment_id: str) -> m.Establishment:
    est = uow.session.get(m.Establishment, establishment_id)
    if est is None:
        raise NotFound(f"Établissement « {establishment_id} » introuvable.")
    return est


def establishment_by_finess(uow: UnitOfWork, finess: str, *, allowed_ids: set[str] | None) -> m.Establishment:
    """The establishment with this FINESS (key checked), among `allowed_ids` when given (the user's scope)."""
    number = validate_finess(finess, field="establishment_finess")
    est = uow.session.scalars(select(m.Establishment).where(m.Establishment.finess == number)).one_or_none()
    if est is None or (allowed_ids is not None and est.id not in allowed_ids):
        raise ValidationFailed(f"Aucun établissement de votre périmètre n'a le FINESS {number}.",
                               field="establishment_finess")
    return est


def establishments_in_scope(uow: UnitOfWork, *, establishment_id: str | None,
                            region_code: str | None) -> list[m.Establishment]:
    """Where a coordinator may create boards: their establishment, else their region's (all for an admin)."""
    q = select(m.Establishment).order_by(m.Establishment.name)
    if establishment_id:
        q = q.where(m.Establishment.id == establishment_id)
    elif region_code:
        q = q.join(m.Region, m.Region.id == m.Establishment.region_id).where(m.Region.code == region_code)
    return list(uow.session.scalars(q).all())


def professionals_of_establishments(uow: UnitOfWork, establishment_ids: list[str]) -> list[m.Professional]:
    q = (select(m.Professional).where(m.Professional.establishment_id.in_(establishment_ids))
         .order_by(m.Professional.family, m.Professional.given))
    return list(uow.session.scalars(q).all())


# ------------------------------------------------------------------------- recurrence, as people say it

WEEKDAYS = {"MO": "lundi", "TU": "mardi", "WE": "mercredi", "TH": "jeudi", "FR": "vendredi"}
FREQUENCIES = {"hebdomadaire": "chaque semaine", "bimensuelle": "toutes les deux semaines",
               "mensuelle": "une fois par mois"}
RANKS = {"1": "premier", "2": "deuxième", "3": "troisième", "4": "quatrième", "-1": "dernier"}


def recurrence_rule(frequency: str, weekday: str, rank: str = "1") -> str:
    """The RFC 5545 rule of "every (other) <weekday>" or "the <rank> <weekday> of the month"."""
    if weekday not in WEEKDAYS:
        raise ValidationFailed("Choisissez le jour de la semaine de la RCP (lundi à vendredi).", field="weekday")
    if frequency == "hebdomadaire":
        return f"FREQ=WEEKLY;BYDAY={weekday}"
    if frequency == "bimensuelle":
        return f"FREQ=WEEKLY;INTERVAL=2;BYDAY={weekday}"
    if frequency == "mensuelle":
        if rank not in RANKS:
            raise ValidationFailed("Choisissez la semaine du mois (premier à quatrième, ou dernier).",
                                   field="rank")
        return f"FREQ=MONTHLY;BYDAY={rank}{weekday}"
    raise ValidationFailed("Choisissez la fréquence de la RCP (hebdomadaire, bimensuelle ou mensuelle).",
                           field="frequency")


def recurrence_parts(rule: str) -> tuple[str, str, str]:
    """(frequency, weekday, rank) of a rule `recurrence_rule` writes; ("", "", "") for any other rule."""
    parts = dict(p.split("=", 1) for p in rule.split(";") if "=" in p)
    day = parts.get("BYDAY", "")
    if parts.get("FREQ") == "WEEKLY" and day in WEEKDAYS and set(parts) <= {"FREQ", "BYDAY", "INTERVAL"}:
        return ("bimensuelle" if parts.get("INTERVAL") == "2" else "hebdomadaire"
                if parts.get("INTERVAL", "1") == "1" else "", day, "1")
    if parts.get("FREQ") == "MONTHLY" and set(parts) == {"FREQ", "BYDAY"} and day[-2:] in WEEKDAYS \
            and day[:-2] in RANKS:
        return "mensuelle", day[-2:], day[:-2]
    return "", "", ""


def describe_recurrence(rule: str) -> str:
    """The rule in French words ("chaque semaine, le mardi", "le premier et le troisième mercredi du mois"),
    or the rule itself when it says something else."""
    parts = dict(p.split("=", 1) for p in rule.split(";") if "=" in p)
    days = [d for d in parts.get("BYDAY", "").split(",") if d]
    if not days or not set(parts) <= {"FREQ", "BYDAY", "INTERVAL"} or any(d[-2:] not in WEEKDAYS for d in days):
        return rule
    interval = parts.get("INTERVAL", "1")
    if parts.get("FREQ") == "WEEKLY" and all(len(d) == 2 for d in days) and interval in ("1", "2"):
        names = " et le ".join(WEEKDAYS[d] for d in days)
        return f"{FREQUENCIES['hebdomadaire' if interval == '1' else 'bimensuelle']}, le {names}"
    if parts.get("FREQ") == "MONTHLY" and interval == "1" and all(d[:-2] in RANKS for d in days):
        return "le " + " et le ".join(f"{RANKS[d[:-2]]} {WEEKDAYS[d[-2:]]}" for d in days) + " du mois"
    return rule
