"""The deliveries screen (coordinators: their boards; regional monitors: their region): one scoped read of the
outbox with what a person needs to recognise a message — patient initials (never the name), board, case,
document kind and version, destination in words — and a French reason for every message not delivered.
Requeue of one or many dead letters, by the roles the access rules allow, each audited.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from dcc.adapters.db import models as m
from dcc.domain import clock
from dcc.errors import DccError, ValidationFailed
from dcc.services import access, delivery
from dcc.services.uow import UnitOfWork

STATES = ("dead", "pending", "held", "blocked", "delivered")
REQUEUE_ROLES: tuple[access.Role, ...] = ("coordinator", "monitor")
MAX_BATCH = 200
DOC_KINDS = {"FRCP": "Fiche RCP", "PPS": "PPS", "N1": "Pièce jointe partagée"}

# Plain-French explanation of a delivery error code (the adapters' codes); `{cible}` is the destination.
ERROR_EXPLANATIONS = {
    "delai_depasse": "{cible} n'a pas répondu à temps (délai dépassé).",
    "connexion_interrompue": "La connexion avec {cible_min} a été interrompue ou refusée.",
    "reponse_illisible": "{cible} a renvoyé une réponse illisible.",
    "metadonnees_invalides": "Les métadonnées du document ont été refusées avant l'envoi.",
    "metadonnees_incoherentes": "Les métadonnées du document sont incohérentes.",
    "entree_refusee": "{cible} a refusé le document.",
    "document_inconnu": "{cible} ne connaît pas le document à mettre à jour.",
    "destination_inconnue": "Aucun point d'accès n'est configuré pour cette destination.",
    "erreur_interne": "Erreur interne de dcc pendant l'envoi.",
}
_RETRY_HINT = re.compile(r"\s*\[Retry-After[^\]]*\]", re.IGNORECASE)


def _target(destination: str) -> tuple[str, str]:
    if destination.startswith("mss:"):
        return "La messagerie sécurisée de santé", "la messagerie sécurisée de santé"
    return "Le DMP", "le DMP"


def plain_error(error_code: str, status_code: int | None, last_error: str, destination: str = "dmp:") -> str:
    """The cause of a failure in plain French, then the raw detail (whitespace folded, 300 characters)."""
    cible, cible_min = _target(destination)
    lead = ERROR_EXPLANATIONS.get(error_code, "").format(cible=cible, cible_min=cible_min)
    if not lead and status_code:
        if status_code >= 500:
            lead = f"{cible} est en erreur ou indisponible (code HTTP {status_code})."
        elif status_code in (401, 403):
            lead = f"{cible} a refusé l'authentification de l'établissement (code HTTP {status_code})."
        elif status_code >= 400:
            lead = f"{cible} a refusé la requête (code HTTP {status_code})."
    detail = " ".join((last_error or "").split())[:300]
    if lead and detail:
        return f"{lead} Détail : {detail}"
    return lead or detail or "Aucune erreur enregistrée."


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?", "»")) else f"{text}."


def reason(state: str, *, attempts: int, error_code: str, status_code: int | None, last_error: str,
           destination: str, hold_reason: str, next_attempt_at: datetime | None) -> str:
    """Why a message is where it is, in French. A dead letter always says that no new attempt is planned
    (the server's retry hint, meaningless once dead, is dropped); a pending one says when the next is."""
    if state == "delivered":
        return ""
    if state == "dead":
        cause = plain_error(error_code, status_code, _RETRY_HINT.sub("", last_error or ""), destination)
        tries = f"après {attempts} tentative{'s' if attempts > 1 else ''}" if attempts else "sans tentative"
        return (f"Échec définitif {tries} : aucune nouvelle tentative n'est prévue. {_sentence(cause)} "
                "Corrigez la cause puis relancez l'envoi.")
    if state in ("held", "blocked"):
        return hold_reason or plain_error(error_code, status_code, last_error, destination)
    if attempts and next_attempt_at is not None:
        cause = plain_error(error_code, status_code, last_error, destination)
        return f"{_sentence(cause)} Nouvelle tentative prévue le {clock.fr_datetime(next_attempt_at)}."
    return "En attente du premier envoi."


@dataclass(frozen=True)
class DeliveryRow:
    id: str
    state: str
    kind: str  # submit | metadata_update
    destination: str
    destination_label: str
    document_kind: str
    document_version: int
    document_unique_id: str
    patient_initials: str
    board_name: str
    case_id: str
    case_label: str
    attempts: int
    created_at: datetime
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    reason: str


@dataclass
class DeliveryList:
    state: str | None
    rows: list[DeliveryRow]
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # destination label -> state -> n
    can_requeue: bool = False


def initials(given: str, family: str) -> str:
    """"J. D." for Jean Dupont (hyphenated given names keep their parts: "J.-P. D.")."""
    def first(word: str) -> str:
        parts = [p for p in re.split(r"-", word.strip().split(" ")[0]) if p] if word.strip() else []
        return "-".join(f"{p[0].upper()}." for p in parts)
    return " ".join(x for x in (first(given), first(family)) if x) or "?"


def _region_label(region: m.Region) -> str:
    name = region.name or region.code
    return "r" + name[1:] if name.lower().startswith("région") else f"région {name}"


def destination_label(destination: str, regions: dict[str, m.Region], gp: m.Professional | None) -> str:
    """A destination in words: "DMP région Pays de la Loire", "MSSanté Dr Anne Martin (médecin traitant)"."""
    kind, _, code = destination.partition(":")
    region = regions.get(code)
    if kind == "dmp":
        return f"DMP {_region_label(region)}" if region else f"DMP (région {code})"
    if kind == "mss":
        if gp is not None:
            prefix = gp.prefix or ("Dr" if gp.is_physician else "")
            return " ".join(x for x in ("MSSanté", prefix, gp.given, gp.family) if x) + " (médecin traitant)"
        return "MSSanté — correspondants du document"
    return destination


def can_requeue(user: access.User) -> bool:
    return user.role in REQUEUE_ROLES


def list_deliveries(uow: UnitOfWork, user: access.User, *, state: str | None = "dead", limit: int = 200,
                    offset: int = 0) -> DeliveryList:
    """The messages in the user's scope (newest first), with their counts per destination and state."""
    access.require_role(user, "coordinator", "monitor",
                        message="Les envois sont suivis par les coordinateurs et les observateurs régionaux.")
    if state is not None and state not in STATES:
        raise ValidationFailed(f"État d'envoi inconnu : « {state} ».", field="etat")
    regions = {r.code: r for r in uow.session.scalars(select(m.Region))}
    q = (select(m.OutboxMessage, m.Document, m.Case, m.Board.name, m.Patient)
         .join(m.Document, m.Document.id == m.OutboxMessage.document_id)
         .join(m.Case, m.Case.id == m.Document.case_id)
         .join(m.Board, m.Board.id == m.Case.board_id)
         .join(m.Patient, m.Patient.id == m.Document.patient_id)
         .where(access.delivery_filter(user)))
    if state is not None:
        q = q.where(m.OutboxMessage.state == state)
    q = q.order_by(m.OutboxMessage.created_at.desc(), m.OutboxMessage.id).limit(limit).offset(offset)
    found = uow.session.execute(q).all()
    ids = [msg.id for msg, *_ in found]
    last: dict[str, m.DeliveryAttempt] = {}
    if ids:
        for attempt in uow.session.scalars(select(m.DeliveryAttempt).where(m.DeliveryAttempt.message_id.in_(ids))
                                           .order_by(m.DeliveryAttempt.at)):
            last[attempt.message_id] = attempt  # the latest attempt wins
    gp_ids = {p.referring_gp_id for *_, p in found if p.referring_gp_id}
    gps = {g.id: g for g in uow.session.scalars(select(m.Professional).where(m.Professional.id.in_(gp_ids)))} \
        if gp_ids else {}
    rows = []
    for msg, doc, case, board_name, patient in found:
        att = last.get(msg.id)
        gp = gps.get(patient.referring_gp_id or "")
        rows.append(DeliveryRow(
            id=msg.id, state=msg.state, kind=msg.kind, destination=msg.destination,
            destination_label=destination_label(msg.destination, regions, gp),
            document_kind=DOC_KINDS.get(doc.kind, doc.kind), document_version=doc.version,
            document_unique_id=doc.unique_id,
            patient_initials=initials(patient.used_given or patient.birth_given_first,
                                      patient.used_family or patient.birth_family),
            board_name=board_name, case_id=case.id,
            case_label=case.registration_number or f"dossier du {clock.fr_date(case.created_at)}",
            attempts=msg.attempts, created_at=msg.created_at, last_attempt_at=att.at if att else None,
            delivered_at=msg.delivered_at,
            reason=reason(msg.state, attempts=msg.attempts, error_code=att.error_code if att else "",
                          status_code=att.status_code if att else None, last_error=msg.last_error,
                          destination=msg.destination, hold_reason=msg.hold_reason,
                          next_attempt_at=msg.next_attempt_at)))
    counts: dict[str, dict[str, int]] = {}
    count_q = (select(m.OutboxMessage.destination, m.OutboxMessage.state, func.count())
               .where(access.delivery_filter(user))
               .group_by(m.OutboxMessage.destination, m.OutboxMessage.state))
    for dest, st, n in uow.session.execute(count_q).all():
        label = destination_label(dest, regions, None) if not dest.startswith("mss:") else \
            f"MSSanté {_region_label(regions[dest[4:]])}" if dest[4:] in regions else dest
        bucket = counts.setdefault(label, {})
        bucket[st] = bucket.get(st, 0) + n
    return DeliveryList(state=state, rows=rows, counts=dict(sorted(counts.items())), can_requeue=can_requeue(user))


@dataclass
class RequeueResult:
    requeued: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # message id -> French reason


def requeue_deliveries(uow: UnitOfWork, user: access.User, message_ids: Sequence[str]) -> RequeueResult:
    """Requeue dead letters (one or many, after the page's confirmation): coordinators for their boards,
    regional monitors for their region. Each requeue is its own audited transaction (`delivery.requeue`,
    the actor's login); a message out of scope is answered as missing, one not dead is refused."""
    ids = list(dict.fromkeys(i for i in message_ids if i))
    if not ids:
        raise ValidationFailed("Cochez au moins un envoi à relancer.", field="envois")
    if len(ids) > MAX_BATCH:
        raise ValidationFailed(f"Au plus {MAX_BATCH} envois à la fois.", field="envois")
    access.require_role(user, *REQUEUE_ROLES,
                        message="Seuls un coordinateur ou l'observateur régional peuvent relancer un envoi.")
    result = RequeueResult()
    for message_id in ids:
        try:
            access.require(uow, user, "delivery", message_id, access.delivery_filter(user), action="requeue")
            delivery.requeue(uow, message_id=message_id, actor=user.login)
        except DccError as exc:
            uow.rollback()
            result.refused[message_id] = exc.message
        else:
            result.requeued.append(message_id)
    return result
