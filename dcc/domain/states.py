"""The typed states of cases, sessions, documents, outbox messages and documents due (generation queue), and
the one place that says which transition is allowed.

Services change a state only through `advance(obj, new)`; the database keeps the values to these enums
(CHECK constraints, migration 0008_states). Staying in the same state is always allowed (idempotent use
cases: a decision edited again, attendance recorded again, a hold reason refreshed).
"""

from __future__ import annotations

import enum
from typing import Any

from dcc.errors import Conflict


class CaseStatus(enum.StrEnum):
    PENDING = "pending"  # registered, waiting for a session
    ASSIGNED = "assigned"  # on a session's agenda
    DECIDED = "decided"  # the board recorded its decision
    REPRESENTED = "represented"  # its session had no quorum: a new case entry re-presents it
    WITHDRAWN = "withdrawn"  # withdrawn by the coordinator before its discussion, with a reason


class SessionStatus(enum.StrEnum):
    PLANNED = "planned"
    HELD = "held"  # attendance recorded
    VALIDATED = "validated"  # decisions locked
    CANCELLED = "cancelled"


class DocumentStatus(enum.StrEnum):
    DRAFT = "draft"  # generated, waiting in the signer's queue
    SIGNED = "signed"
    DELIVERED = "delivered"  # in the national record
    FAILED = "failed"
    SUPERSEDED = "superseded"  # a signed later version replaces it


class OutboxState(enum.StrEnum):
    PENDING = "pending"  # due (or waiting for its next attempt)
    DELIVERED = "delivered"
    DEAD = "dead"  # permanent failure or attempts exhausted: a person must requeue it
    HELD = "held"  # waits for a cause to go (identity not qualified, previous version not in place…)
    BLOCKED = "blocked"  # the patient opposed feeding the DMP


class GenerationState(enum.StrEnum):
    """A "documents due" row (written by the session's validation, drained by `generate_pending_documents`)."""

    PENDING = "pending"  # due (now or at its next attempt)
    LEASED = "leased"  # a drain is generating it (until its lease expires)
    DONE = "done"  # the case has its documents (or generation was refused for good: see `dead`)
    DEAD = "dead"  # dead letter: attempts exhausted or a refusal a person must fix; a person may requeue it


_C, _S, _D, _O, _G = CaseStatus, SessionStatus, DocumentStatus, OutboxState, GenerationState

ALLOWED: dict[type[enum.StrEnum], frozenset[tuple[Any, Any]]] = {
    CaseStatus: frozenset({
        (_C.PENDING, _C.ASSIGNED),  # assignment, manual move
        (_C.ASSIGNED, _C.PENDING),  # displaced with no session left (cancellation, not discussed)
        (_C.ASSIGNED, _C.DECIDED),  # the board's decision
        (_C.DECIDED, _C.REPRESENTED),  # no quorum: re-presented under a new case entry
        (_C.PENDING, _C.WITHDRAWN),  # withdrawn by the coordinator (reason kept on the case)
        (_C.ASSIGNED, _C.WITHDRAWN),
    }),
    SessionStatus: frozenset({
        (_S.PLANNED, _S.HELD),  # attendance recorded
        (_S.PLANNED, _S.CANCELLED),
        (_S.PLANNED, _S.VALIDATED),  # validated with no attendance recorded (then without quorum)
        (_S.HELD, _S.VALIDATED),
    }),
    DocumentStatus: frozenset({
        (_D.DRAFT, _D.SIGNED),
        (_D.SIGNED, _D.DELIVERED),
        (_D.SIGNED, _D.FAILED),
        (_D.FAILED, _D.DELIVERED),
        (_D.SIGNED, _D.SUPERSEDED),
        (_D.DELIVERED, _D.SUPERSEDED),
        (_D.FAILED, _D.SUPERSEDED),
    }),
    OutboxState: frozenset({
        (_O.PENDING, _O.DELIVERED),
        (_O.PENDING, _O.DEAD),
        (_O.PENDING, _O.HELD),  # the dispatcher's gate
        (_O.PENDING, _O.BLOCKED),  # opposition
        (_O.HELD, _O.PENDING),  # its cause is gone (identity qualified, previous version delivered)
        (_O.HELD, _O.BLOCKED),
        (_O.BLOCKED, _O.PENDING),  # opposition lifted
        (_O.BLOCKED, _O.HELD),
        (_O.DEAD, _O.PENDING),  # requeued by a person
        (_O.DELIVERED, _O.PENDING),  # a metadata update re-armed: the patient's choice changed again
    }),
    GenerationState: frozenset({
        (_G.PENDING, _G.LEASED),  # claimed by a drain
        (_G.LEASED, _G.DONE),
        (_G.LEASED, _G.PENDING),  # failed, retried later; or its lease expired (the drain died)
        (_G.LEASED, _G.DEAD),  # attempts exhausted, or refused (missing data, no quorum)
        (_G.PENDING, _G.DEAD),  # its drains died too often (each claim counts as an attempt)
        (_G.DEAD, _G.PENDING),  # requeued by a person
        (_G.DEAD, _G.DONE),  # the documents were generated another way (regeneration once the data completed)
    }),
}

LABELS: dict[str, str] = {
    # French words people read for each state (pages, messages)
    "case:pending": "en attente d'affectation", "case:assigned": "inscrit à une séance",
    "case:decided": "décidé", "case:represented": "représenté (quorum non atteint)",
    "case:withdrawn": "retiré",
    "session:planned": "planifiée", "session:held": "tenue", "session:validated": "validée",
    "session:cancelled": "annulée",
    "document:draft": "à signer", "document:signed": "signé", "document:delivered": "envoyé",
    "document:failed": "échec d'envoi", "document:superseded": "remplacé",
    "outbox:pending": "en attente", "outbox:delivered": "délivré", "outbox:dead": "lettre morte",
    "outbox:held": "suspendu", "outbox:blocked": "bloqué",
    "generation:pending": "à générer", "generation:leased": "en cours de génération",
    "generation:done": "générés", "generation:dead": "lettre morte",
}
_KIND = {CaseStatus: "case", SessionStatus: "session", DocumentStatus: "document", OutboxState: "outbox",
         GenerationState: "generation"}
_ATTRIBUTE = {CaseStatus: "status", SessionStatus: "status", DocumentStatus: "status", OutboxState: "state",
              GenerationState: "state"}
_WHAT = {CaseStatus: "Le dossier", SessionStatus: "La séance", DocumentStatus: "Le document",
         OutboxState: "L'envoi", GenerationState: "La génération des documents"}


def label(new: enum.StrEnum) -> str:
    return LABELS[f"{_KIND[type(new)]}:{new.value}"]


def labels(kind: type[enum.StrEnum]) -> dict[str, str]:
    """{stored value: French label} of every state of `kind` (for the pages)."""
    return {state.value: label(state) for state in kind}


class InvalidTransition(Conflict):
    code = "transition_interdite"


def allowed(current: str, new: enum.StrEnum) -> bool:
    """Whether a `current` state (a stored value) may become `new`."""
    kind = type(new)
    old = kind(current)  # ValueError: a stored value outside the enum (the CHECK constraint prevents it)
    return old == new or (old, new) in ALLOWED[kind]


def advance(obj: Any, new: enum.StrEnum) -> None:
    """Set `obj`'s state (`status`, or `state` for an outbox message) to `new` if the transition is allowed,
    else raise `InvalidTransition` (409) with the French states and write nothing."""
    attribute = _ATTRIBUTE[type(new)]
    current = getattr(obj, attribute)
    if current is not None and not allowed(current, new):
        old = type(new)(current)
        raise InvalidTransition(f"{_WHAT[type(new)]} est « {label(old)} » : il ne peut pas passer à "
                                f"« {label(new)} ».")
    setattr(obj, attribute, new.value)
