"""Authorisation as query filters: who may see which board, session, case, document, delivery, patient.

Rules (roles of `User.role`):

* coordinator — the boards of their 3C: their establishment's boards (or, for a coordinator attached to a
  region without an establishment, the region's boards), and the sessions, cases, documents and deliveries
  of those boards. Registers cases, records attendance and decisions, validates sessions, requeues deliveries.
* physician — the boards of their region and those they sit on (directory); the sessions of the boards they
  sit on; the cases and documents of the patients in their care team (requester or presenter of one of the
  patient's cases, member of a board where the patient has a case, referring GP), the documents they must
  sign, and, through break-the-glass, a patient's record for a limited time. Drafts, and documents the
  patient masked, are visible only to their signer, to the members of the deciding board and through
  break-the-glass.
* ide (coordinating nurse) — the boards of their establishment, and the cases, patients and documents (not
  masked) of those boards: authors the PPS (never signs, never decides, never records consent).
* monitor (regional) — the boards and sessions of their region (aggregates: no agenda) and its deliveries'
  states (no patient name); never a case nor a document.
* admin — the directory (every board) and the session calendar; no clinical data.

An object outside the user's scope is answered as if it did not exist (404, same message), and the refusal
of an existing object is audited (`access.refused`). A visible object on which the role may not act answers
403 (`AccessDenied`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache, wraps
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, bindparam, exists, false, or_, select, true, union
from sqlalchemy.sql import Select

from dcc.adapters.db import models as m
from dcc.adapters.db.statements import StatementsByFilter
from dcc.domain.clock import fr_datetime
from dcc.errors import DccError, NotFound
from dcc.services.audit import record_audit, record_audits, record_audits_grouped
from dcc.services.uow import UnitOfWork

Role = Literal["coordinator", "physician", "ide", "monitor", "admin"]
ROLES: tuple[Role, ...] = ("coordinator", "physician", "ide", "monitor", "admin")
ROLE_LABELS = {"coordinator": "Coordinateur (3C)", "physician": "Médecin", "ide": "Infirmier(e) de coordination",
               "monitor": "Observateur régional", "admin": "Administrateur"}

BREAK_GLASS_DURATION = timedelta(hours=4)
# HL7 v3 PurposeOfUse codes accepted as the reason of a break-the-glass access, with their French label.
BREAK_GLASS_REASONS = {
    "ETREAT": "Urgence thérapeutique",
    "TREAT": "Prise en charge en cours hors équipe de soins",
    "COC": "Continuité des soins (remplacement, garde)",
    "PATRQT": "Demande du patient",
}


@dataclass(frozen=True)
class User:
    """The authenticated user (see dcc.web.auth). `professional_id` links a physician to the directory."""

    login: str
    role: Role
    region_code: str | None
    establishment_id: str | None
    professional_id: str | None
    display_name: str


class AccessDenied(DccError):
    """The user sees the object but their role may not perform this action."""

    status_code = 403
    code = "interdit"


def now_utc() -> datetime:
    return m.utcnow()


# The filters below are SQL expressions of the user alone, built once per user and reused by every request
# (building them cost more than running the queries they filter). Where a filter depends on the time (the
# expiry of break-the-glass grants), the time is a bound parameter read when the query runs, not when the
# expression is built; a filter asked for another time (`at=`) is built afresh.
_PER_USER_CACHE = 1024


def _per_user(build: Callable[..., Any]) -> Callable[..., Any]:
    cached = lru_cache(maxsize=_PER_USER_CACHE)(build)

    @wraps(build)
    def filter_(user: User, *, at: datetime | None = None) -> Any:
        if at is not None:
            return build(user, at=at)
        return cached(user)

    return filter_


def _now_param() -> Any:
    """The current time (`now_utc`), evaluated each time the statement runs."""
    return bindparam("access_now", callable_=lambda: now_utc(), type_=m.BreakGlass.__table__.c.expires_at.type,
                     unique=True)


# ------------------------------------------------------------------------------------------ building blocks


@lru_cache(maxsize=_PER_USER_CACHE)
def _region_id(user: User) -> Select[Any]:
    return select(m.Region.id).where(m.Region.code == (user.region_code or ""))


@lru_cache(maxsize=_PER_USER_CACHE)
def _region_establishments(user: User) -> Select[Any]:
    return select(m.Establishment.id).where(m.Establishment.region_id.in_(_region_id(user)))


@lru_cache(maxsize=_PER_USER_CACHE)
def _member_boards(user: User) -> Select[Any]:
    return select(m.BoardMember.board_id).where(m.BoardMember.professional_id == (user.professional_id or ""))


@lru_cache(maxsize=_PER_USER_CACHE)
def _coordinator_boards(user: User) -> Select[Any]:
    if user.establishment_id:
        return select(m.Board.id).where(m.Board.establishment_id == user.establishment_id)
    return select(m.Board.id).where(m.Board.establishment_id.in_(_region_establishments(user)))


@lru_cache(maxsize=_PER_USER_CACHE)
def _establishment_boards(user: User) -> Select[Any]:
    """The boards of the user's establishment (a coordinating nurse's scope)."""
    return select(m.Board.id).where(m.Board.establishment_id == (user.establishment_id or ""))


@lru_cache(maxsize=_PER_USER_CACHE)
def _user_id(user: User) -> Select[Any]:
    return select(m.AppUser.id).where(m.AppUser.login == user.login)


@lru_cache(maxsize=_PER_USER_CACHE)
def care_team_patients(user: User) -> Select[Any]:
    """Patients whose care team includes the physician `user` (not counting break-the-glass)."""
    p = user.professional_id or ""
    by_case = select(m.Case.patient_id).where(or_(
        m.Case.requester_id == p, m.Case.presenter_id == p, m.Case.board_id.in_(_member_boards(user))))
    by_gp = select(m.Patient.id).where(m.Patient.referring_gp_id == p)
    return select(union(by_case, by_gp).subquery().c[0])


@_per_user
def break_glass_patients(user: User, *, at: datetime | None = None) -> Select[Any]:
    return select(m.BreakGlass.patient_id).where(m.BreakGlass.user_id.in_(_user_id(user)),
                                                 m.BreakGlass.expires_at > (_now_param() if at is None else at))


@lru_cache(maxsize=_PER_USER_CACHE)
def _coordinator_patients(user: User) -> Select[Any]:
    return select(m.Case.patient_id).where(m.Case.board_id.in_(_coordinator_boards(user)))


# --------------------------------------------------------------------------------------- filters (SQL)


@lru_cache(maxsize=_PER_USER_CACHE)
def board_filter(user: User) -> ColumnElement[bool]:
    """Boards in the user's directory view (not clinical)."""
    if user.role == "admin":
        return true()
    if user.role == "monitor":
        return m.Board.establishment_id.in_(_region_establishments(user))
    if user.role == "coordinator":
        return m.Board.id.in_(_coordinator_boards(user))
    if user.role == "physician":
        return or_(m.Board.establishment_id.in_(_region_establishments(user)), m.Board.id.in_(_member_boards(user)))
    if user.role == "ide":
        return m.Board.id.in_(_establishment_boards(user))
    return false()


@lru_cache(maxsize=_PER_USER_CACHE)
def session_filter(user: User) -> ColumnElement[bool]:
    """Sessions in the user's calendar (counts only; the agenda is `agenda_filter`)."""
    if user.role == "admin":
        return true()
    if user.role == "monitor":
        return m.Session.board_id.in_(select(m.Board.id).where(m.Board.establishment_id.in_(
            _region_establishments(user))))
    if user.role == "coordinator":
        return m.Session.board_id.in_(_coordinator_boards(user))
    if user.role == "physician":
        return m.Session.board_id.in_(_member_boards(user))
    return false()


@lru_cache(maxsize=_PER_USER_CACHE)
def agenda_filter(user: User) -> ColumnElement[bool]:
    """Sessions whose agenda (patients' names, questions) the user may read."""
    if user.role == "coordinator":
        return m.Session.board_id.in_(_coordinator_boards(user))
    if user.role == "physician":
        return m.Session.board_id.in_(_member_boards(user))
    return false()


@_per_user
def case_filter(user: User, *, at: datetime | None = None) -> ColumnElement[bool]:
    if user.role == "coordinator":
        return m.Case.board_id.in_(_coordinator_boards(user))
    if user.role == "ide":
        return m.Case.board_id.in_(_establishment_boards(user))
    if user.role == "physician":
        return or_(m.Case.patient_id.in_(care_team_patients(user)),
                   m.Case.patient_id.in_(break_glass_patients(user, at=at)))
    return false()


@_per_user
def document_filter(user: User, *, at: datetime | None = None) -> ColumnElement[bool]:
    if user.role == "coordinator":
        return m.Document.case_id.in_(select(m.Case.id).where(m.Case.board_id.in_(_coordinator_boards(user))))
    if user.role == "physician":
        p = user.professional_id or ""
        authors = select(m.Case.id).where(m.Case.board_id.in_(_member_boards(user)))
        return or_(
            m.Document.signer_id == p,
            m.Document.patient_id.in_(break_glass_patients(user, at=at)),
            and_(m.Document.masked_ps.is_(False), m.Document.status != "draft",
                 m.Document.patient_id.in_(care_team_patients(user))),
            m.Document.case_id.in_(authors),
        )
    if user.role == "ide":
        return and_(m.Document.masked_ps.is_(False), m.Document.case_id.in_(
            select(m.Case.id).where(m.Case.board_id.in_(_establishment_boards(user)))))
    return false()


@lru_cache(maxsize=_PER_USER_CACHE)
def delivery_filter(user: User) -> ColumnElement[bool]:
    """Outbox messages whose state the user may follow (coordinator: their boards; monitor: their region)."""
    if user.role == "coordinator":
        boards = _coordinator_boards(user)
    elif user.role == "monitor":
        boards = select(m.Board.id).where(m.Board.establishment_id.in_(_region_establishments(user)))
    else:
        return false()
    docs = select(m.Document.id).join(m.Case, m.Case.id == m.Document.case_id).where(m.Case.board_id.in_(boards))
    return m.OutboxMessage.document_id.in_(docs)


@_per_user
def patient_filter(user: User, *, at: datetime | None = None) -> ColumnElement[bool]:
    """Patients whose record (cases, documents) the user may open."""
    if user.role == "coordinator":
        return m.Patient.id.in_(_coordinator_patients(user))
    if user.role == "physician":
        return or_(m.Patient.id.in_(care_team_patients(user)), m.Patient.id.in_(break_glass_patients(user, at=at)))
    if user.role == "ide":
        return m.Patient.id.in_(select(m.Case.patient_id).where(m.Case.board_id.in_(_establishment_boards(user))))
    return false()


@lru_cache(maxsize=_PER_USER_CACHE)
def audit_trail_filter(user: User) -> ColumnElement[bool]:
    """Patients whose audit trail the user may read: admin, or the care team (break-the-glass excluded)."""
    return true() if user.role == "admin" else consent_filter(user)


@lru_cache(maxsize=_PER_USER_CACHE)
def consent_filter(user: User) -> ColumnElement[bool]:
    """Patients whose consent and identity the user may record (opposition to the DMP, identity qualified):
    the coordinator of their boards and the physicians of their care team; never through break-the-glass."""
    if user.role == "coordinator":
        return m.Patient.id.in_(_coordinator_patients(user))
    if user.role == "physician":
        return m.Patient.id.in_(care_team_patients(user))
    return false()


@lru_cache(maxsize=_PER_USER_CACHE)
def consent_document_filter(user: User) -> ColumnElement[bool]:
    """Documents whose visibility the user may record at the patient's request (announcement, masking):
    those of the patients in `consent_filter`, masked ones included (the patient may lift the masking)."""
    return m.Document.patient_id.in_(select(m.Patient.id).where(consent_filter(user)))


# ------------------------------------------------------------------------------------- checks (one object)

_WHAT = {"board": ("RCP", m.Board), "session": ("Séance", m.Session), "case": ("Dossier", m.Case),
         "document": ("Document", m.Document), "delivery": ("Envoi", m.OutboxMessage),
         "patient": ("Patient", m.Patient)}


def _visible(uow: UnitOfWork, model: type[m.Base], id_: str, condition: ColumnElement[bool]) -> bool:
    pk = model.__table__.c.id
    return bool(uow.session.execute(select(exists().where(pk == id_, condition))).scalar())


def _patient_of(uow: UnitOfWork, kind: str, obj: m.Base) -> str | None:
    if kind in ("case", "document"):
        return str(obj.patient_id)  # type: ignore[attr-defined]
    if kind == "patient":
        return str(obj.id)  # type: ignore[attr-defined]
    if kind == "delivery":
        doc = uow.session.get(m.Document, obj.document_id)  # type: ignore[attr-defined]
        return doc.patient_id if doc else None
    return None


_STATEMENTS = StatementsByFilter(limit=4 * _PER_USER_CACHE)


def _visible_statement(model: type[m.Base], condition: ColumnElement[bool]) -> Select[Any]:
    """`model` by id (parameter `dcc_id`) where `condition` holds, built once per filter."""
    return _STATEMENTS.get(condition, lambda: select(model).where(model.__table__.c.id == bindparam("dcc_id"),
                                                                    condition), model)


def require(uow: UnitOfWork, user: User, kind: str, id_: str, condition: ColumnElement[bool],
            *, action: str = "read") -> None:
    """Raise NotFound (same message as a missing object) unless the object exists and `condition` holds.

    A refusal on an existing object is audited (`access.refused`, committed at once: it survives the
    rollback of the request) before the 404.
    """
    what, model = _WHAT[kind]
    # one query when visible; the object is kept in the session (whose identity map holds objects weakly), so
    # the caller's `get` of it does not query again
    found = uow.session.scalars(_visible_statement(model, condition), {"dcc_id": id_}).first()
    if found is not None:
        uow.session.info.setdefault("dcc.visible", []).append(found)
        return
    missing = NotFound(f"{what} « {id_} » introuvable.")
    obj = uow.session.get(model, id_)
    if obj is None:
        raise missing
    record_audit(uow, actor=user.login, action="access.refused", entity=kind, entity_id=id_,
                 patient_id=_patient_of(uow, kind, obj),
                 detail={"role": user.role, "region": user.region_code, "requested": action})
    uow.commit()
    raise missing


def can_see_board(uow: UnitOfWork, user: User, board_id: str) -> bool:
    return _visible(uow, m.Board, board_id, board_filter(user))


def require_role(user: User, *roles: Role, message: str = "Votre rôle ne permet pas cette action.") -> None:
    if user.role not in roles:
        raise AccessDenied(message)


# ------------------------------------------------------------------------------------ scoped list queries


def visible_boards(uow: UnitOfWork, user: User) -> list[m.Board]:
    return list(uow.session.scalars(select(m.Board).where(board_filter(user)).order_by(m.Board.name)).all())


def visible_session_ids(uow: UnitOfWork, user: User, ids: Sequence[str]) -> set[str]:
    if not ids:
        return set()
    q = select(m.Session.id).where(m.Session.id.in_(list(ids)), session_filter(user))
    return set(uow.session.scalars(q).all())


def visible_document_ids(uow: UnitOfWork, user: User, ids: Sequence[str]) -> set[str]:
    if not ids:
        return set()
    q = select(m.Document.id).where(m.Document.id.in_(list(ids)), document_filter(user))
    return set(uow.session.scalars(q).all())


def visible_cases_of_patient(uow: UnitOfWork, user: User, patient_id: str) -> list[m.Case]:
    q = (select(m.Case).where(m.Case.patient_id == patient_id, case_filter(user))
         .order_by(m.Case.created_at, m.Case.id))
    return list(uow.session.scalars(q).all())


def visible_documents_of_patient(uow: UnitOfWork, user: User, patient_id: str) -> list[m.Document]:
    q = (select(m.Document).where(m.Document.patient_id == patient_id, document_filter(user))
         .order_by(m.Document.created_at, m.Document.id))
    return list(uow.session.scalars(q).all())


# ---------------------------------------------------------------------------------------- break-the-glass


@dataclass(frozen=True)
class BreakGlassGrant:
    id: str
    patient_id: str
    reason_code: str
    expires_at: datetime


def break_glass(uow: UnitOfWork, user: User, *, patient_id: str, reason_code: str, text: str,
                now: datetime | None = None, duration: timedelta = BREAK_GLASS_DURATION) -> BreakGlassGrant:
    """Grant a physician outside the care team a time-limited access to a patient's record.

    Writes the grant, its audit entry (110113/110127), an alert for the regional monitor (`alert.monitor`)
    and a notice queued for the patient (`notice.patient`), all in one transaction: if any write fails,
    no access is granted.
    """
    from dcc.errors import Conflict, ValidationFailed

    require_role(user, "physician", message="Seul un médecin peut demander un accès d'urgence (bris de glace).")
    if reason_code not in BREAK_GLASS_REASONS:
        raise ValidationFailed(f"Le motif « {reason_code} » est inconnu (attendu : "
                               f"{', '.join(BREAK_GLASS_REASONS)}).", field="reason_code")
    if len(text.strip()) < 10:
        raise ValidationFailed("La justification doit décrire la situation (au moins 10 caractères).",
                               field="text")
    patient = uow.session.get(m.Patient, patient_id)
    if patient is None:
        raise NotFound(f"Patient « {patient_id} » introuvable.")
    in_team = uow.session.execute(select(exists().where(m.Patient.id == patient_id,
                                                        m.Patient.id.in_(care_team_patients(user))))).scalar()
    if in_team:
        raise Conflict("Vous faites déjà partie de l'équipe de soins de ce patient : l'accès d'urgence est inutile.")
    app_user = uow.session.scalars(select(m.AppUser).where(m.AppUser.login == user.login)).one_or_none()
    if app_user is None:
        raise AccessDenied("Compte utilisateur inconnu.")
    at = now or now_utc()
    grant = m.BreakGlass(user_id=app_user.id, patient_id=patient_id, reason_code=reason_code,
                         reason_text=text.strip(), created_at=at, expires_at=at + duration)
    uow.session.add(grant)
    uow.session.flush()
    detail = {"reason_code": reason_code, "reason": BREAK_GLASS_REASONS[reason_code], "text": text.strip(),
              "expires_at": grant.expires_at.isoformat(), "role": user.role, "region": user.region_code}
    record_audit(uow, actor=user.login, action="break_glass.start", entity="patient", entity_id=patient_id,
                 patient_id=patient_id, detail=detail)
    record_audit(uow, actor=user.login, action="alert.monitor", entity="break_glass", entity_id=grant.id,
                 patient_id=patient_id,
                 detail={"region": user.region_code, "physician": user.display_name, "reason_code": reason_code,
                         "expires_at": grant.expires_at.isoformat()})
    record_audit(uow, actor=user.login, action="notice.patient", entity="break_glass", entity_id=grant.id,
                 patient_id=patient_id,
                 detail={"channel": "courrier", "state": "queued",
                         "message": f"Le {fr_datetime(at)}, {user.display_name} a "
                                    "consulté votre dossier en urgence (motif : "
                                    f"{BREAK_GLASS_REASONS[reason_code].lower()})."})
    uow.commit()
    return BreakGlassGrant(id=grant.id, patient_id=patient_id, reason_code=reason_code, expires_at=grant.expires_at)


def monitor_alerts(uow: UnitOfWork, user: User, *, limit: int = 100) -> list[m.AuditEvent]:
    """Break-the-glass alerts for a regional monitor (their region only)."""
    require_role(user, "monitor", "admin")
    q = select(m.AuditEvent).where(m.AuditEvent.action == "alert.monitor").order_by(m.AuditEvent.id.desc())
    rows = list(uow.session.scalars(q.limit(limit * 10)).all())
    if user.role == "monitor":
        rows = [r for r in rows if (r.detail or {}).get("region") == user.region_code]
    return rows[:limit]


# -------------------------------------------------------------------------------------- audited actions


def record_read(uow: UnitOfWork, user: User, *, action: str, entity: str, entity_id: str,
                patient_ids: Sequence[str | None], detail: dict[str, object] | None = None) -> None:
    """Audit a read of clinical data (one entry per patient) and commit before the data is returned:
    if the entry cannot be written, the read fails.

    On SQLite the read transaction is ended first and the entries get a short write transaction of their own,
    shared with the reads of the other threads that append at the same moment (`audit.record_audits_grouped`:
    one writer at a time, so one BEGIN IMMEDIATE and one COMMIT for a group instead of one each): upgrading a
    read transaction to a write one fails at once when another writer committed meanwhile, whatever the busy
    timeout. PostgreSQL writes them in the read's transaction (row locks: no
    such failure), which saves a commit, a connection check-out and a new transaction."""
    base = {"role": user.role, "region": user.region_code, **(detail or {})}
    ids = list(dict.fromkeys(patient_ids))
    if not uow.writes_in_read_transaction():
        uow.commit()  # nothing written: ends the read transaction (objects stay loaded, expire_on_commit=False)
        record_audits_grouped(uow, actor=user.login, action=action, entity=entity, entity_id=entity_id,
                              patient_ids=ids, detail=base)
        return
    record_audits(uow, actor=user.login, action=action, entity=entity, entity_id=entity_id, patient_ids=ids,
                  detail=base)
    uow.commit()


def can_manage_session(uow: UnitOfWork, user: User, session_id: str) -> bool:
    """Attendance and validation: the board's coordinator (3C scope) or its responsible physician."""
    if user.role == "coordinator":
        return _visible(uow, m.Session, session_id, agenda_filter(user))
    if user.role == "physician" and user.professional_id:
        q = (select(m.Session.id).join(m.Board, m.Board.id == m.Session.board_id)
             .where(m.Session.id == session_id, m.Board.responsible_id == user.professional_id))
        return uow.session.scalars(q).first() is not None
    return False


def can_decide(uow: UnitOfWork, user: User, case_id: str) -> bool:
    """Recording a decision: the board's coordinator or a physician member of the board."""
    if user.role == "coordinator":
        return _visible(uow, m.Case, case_id, m.Case.board_id.in_(_coordinator_boards(user)))
    if user.role == "physician":
        return _visible(uow, m.Case, case_id, m.Case.board_id.in_(_member_boards(user)))
    return False


def can_author_pps(uow: UnitOfWork, user: User, case_id: str) -> bool:
    """Authoring a PPS: a physician of the patient's care team (not through break-the-glass) or a
    coordinating nurse (`ide`) of the board's establishment. Neither signature nor decision follows from it:
    the PPS is signed by the board's responsible physician only (`sign_documents`)."""
    if user.role == "physician":
        return _visible(uow, m.Case, case_id, m.Case.patient_id.in_(care_team_patients(user)))
    if user.role == "ide":
        return _visible(uow, m.Case, case_id, m.Case.board_id.in_(_establishment_boards(user)))
    return False


def can_register_on_board(uow: UnitOfWork, user: User, board_id: str) -> bool:
    if user.role == "coordinator":
        return _visible(uow, m.Board, board_id, m.Board.id.in_(_coordinator_boards(user)))
    if user.role == "physician":
        return can_see_board(uow, user, board_id)
    return False


def can_manage_establishment(uow: UnitOfWork, user: User, establishment_id: str) -> bool:
    """Creating a board: admin anywhere; a coordinator in their establishment (or region)."""
    if user.role == "admin":
        return True
    if user.role == "coordinator":
        if user.establishment_id:
            return establishment_id == user.establishment_id
        return _visible(uow, m.Establishment, establishment_id,
                        m.Establishment.id.in_(_region_establishments(user)))
    return False


def own_rpps(uow: UnitOfWork, user: User) -> str | None:
    if not user.professional_id:
        return None
    prof = uow.session.get(m.Professional, user.professional_id)
    return prof.rpps if prof else None
