"""ORM guard: a signed document never changes (first line of defence; the database triggers are the second).

`install_guards()` (called at the end of dcc.adapters.db.models) registers, once per process:

* a `before_flush` listener on every ORM session refusing any change of a frozen column of a Document whose
  committed status is not `draft` (signed, delivered, superseded...), its return to `draft`, and any
  deletion of such a document, with `dcc.errors.ImmutableDocument`;
* session `after_commit` / `after_rollback` listeners handing the refused attempts to the refusal recorder
  (`set_refusal_recorder`; dcc.bootstrap wires it to the audit service, which writes one audit entry per
  attempt in a SEPARATE transaction), once the session's own transaction is over (so the entry survives the
  rollback that follows the refusal, and SQLite's single writer lock is free);
* an engine `handle_error` listener turning the database trigger's error ("document signe immuable",
  IntegrityError on both backends) into `ImmutableDocument`, wherever the statement came from (ORM flush,
  bulk `update()`, raw SQL through SQLAlchemy). Such attempts are audited too when they went through a
  session; raw SQL on a bare connection (or outside the application) is refused but not audited.

The actor written in the audit entry is `session.info["actor"]` when a service set it (see `set_actor`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event, inspect, select
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.orm import Session, UOWTransaction
from sqlalchemy.orm.attributes import NO_VALUE

from dcc.errors import ImmutableDocument

log = logging.getLogger(__name__)

FROZEN_COLUMNS = ("cda", "pdf", "sha256", "pdf_sha256", "unique_id", "signer_id", "signed_at", "set_id",
                  "version")
TRIGGER_MESSAGE = "document signe immuable"  # raised by the migration's triggers (0001_initial_schema)
PENDING_KEY = "dcc_immutable_attempts"
ACTOR_KEY = "actor"

CONN_INFOS_KEY = "dcc_connection_infos"
HITS_KEY = "dcc_trigger_refusals"

DETAIL_KEYS = ("unique_id", "status", "operation", "columns", "source")

_installed = False
_lock = threading.Lock()

RefusalRecorder = Callable[[Engine, str, list[dict[str, Any]]], None]
"""`recorder(engine, actor, attempts)`: keeps the trace of refused attempts (each a dict with document_id,
patient_id and the DETAIL_KEYS), in its own transaction on `engine`."""
_recorder: RefusalRecorder | None = None


def set_refusal_recorder(recorder: RefusalRecorder | None) -> None:
    """Who records refused attempts (the composition root, dcc.bootstrap, wires the audit service)."""
    global _recorder
    _recorder = recorder


def set_actor(session: Session, actor: str) -> None:
    """Who acts in this session (written in the audit entry of a refused attempt)."""
    session.info[ACTOR_KEY] = actor


def is_immutable_violation(exc: BaseException) -> bool:
    """True when `exc` (or its cause) is the database trigger refusing a change of a signed document."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, ImmutableDocument) or TRIGGER_MESSAGE in str(cur):
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def _message(unique_id: str, status: str, what: str) -> str:
    return (f"Le document « {unique_id} » est {_STATUS_FR.get(status, status)} : {what}. "
            "Pour le corriger, créez une nouvelle version (correction).")


_STATUS_FR = {"signed": "signé", "delivered": "signé et envoyé",
              "superseded": "remplacé par une nouvelle version", "failed": "signé (envoi en échec)"}


def _committed_status(session: Session, doc: Any) -> str | None:
    """Status of `doc` as last flushed/loaded (None for a new object)."""
    state = inspect(doc)
    if state.transient or state.pending:
        return None
    hist = state.attrs.status.history
    if hist.deleted:
        return str(hist.deleted[0])
    if hist.unchanged:
        return str(hist.unchanged[0])
    loaded = state.attrs.status.loaded_value
    if loaded is not NO_VALUE and not hist.added:
        return str(loaded)
    # not loaded, or overwritten without its old value: ask the database (no autoflush: we are in a flush)
    from dcc.adapters.db.models import Document

    table = Document.__table__
    with session.no_autoflush:
        value = session.connection().execute(select(table.c.status).where(table.c.id == doc.id)).scalar()
    return None if value is None else str(value)


def _changed_columns(doc: Any) -> list[str]:
    state = inspect(doc)
    return [name for name in FROZEN_COLUMNS if state.attrs[name].history.has_changes()]


def _before_flush(session: Session, _ctx: UOWTransaction, _instances: Any) -> None:
    from dcc.adapters.db.models import Document

    refused: list[tuple[dict[str, Any], str]] = []
    for obj in list(session.dirty):
        if not isinstance(obj, Document):
            continue
        changed = _changed_columns(obj)
        unsigned = obj.status == "draft" and inspect(obj).attrs.status.history.has_changes()
        if not changed and not unsigned:
            continue
        status = _committed_status(session, obj)
        if status is None or status == "draft":
            continue
        if unsigned and not changed:
            refused.append((_attempt(obj, status, "update", ["status"]),
                            _message(obj.unique_id, status, "il ne peut pas redevenir un brouillon")))
            continue
        refused.append((_attempt(obj, status, "update", changed),
                        _message(obj.unique_id, status, "ses champs " + ", ".join(changed)
                                  + " ne peuvent plus être modifiés")))
    for obj in list(session.deleted):
        if not isinstance(obj, Document):
            continue
        status = _committed_status(session, obj)
        if status is None or status == "draft":
            continue
        refused.append((_attempt(obj, status, "delete", []),
                        _message(obj.unique_id, status, "il ne peut pas être supprimé")))
    if refused:
        session.info.setdefault(PENDING_KEY, []).extend(a for a, _ in refused)
        raise ImmutableDocument(refused[0][1])


def _attempt(doc: Any, status: str, operation: str, columns: list[str]) -> dict[str, Any]:
    state = inspect(doc)
    hist = state.attrs.unique_id.history
    unique_id = hist.deleted or hist.unchanged or [doc.unique_id]
    return {"document_id": doc.id, "unique_id": str(unique_id[0]), "patient_id": doc.patient_id,
            "status": status, "operation": operation, "columns": columns, "source": "orm"}


def _handle_error(context: ExceptionContext) -> None:
    exc = context.original_exception
    if exc is None or TRIGGER_MESSAGE not in str(exc):
        return
    stmt = (context.statement or "").strip().split()
    if context.connection is not None and not context.connection.closed:
        # claimed by the session using this connection, if any (see _after_begin / _flush_attempts)
        context.connection.info.setdefault(HITS_KEY, []).append(
            {"document_id": "", "unique_id": "", "patient_id": None, "status": "",
             "operation": stmt[0].lower() if stmt else "?", "columns": [], "source": "trigger"})
    raise ImmutableDocument(
        "La base de données refuse la modification ou la suppression d'un document signé "
        "(un document signé est immuable ; pour le corriger, créez une nouvelle version)."
    ) from context.sqlalchemy_exception


def _flush_attempts(session: Session) -> None:
    """Write the pending refused attempts in their own transaction (after the session's one ended)."""
    pending: list[dict[str, Any]] = session.info.pop(PENDING_KEY, [])
    for info in session.info.pop(CONN_INFOS_KEY, []):
        pending.extend(info.pop(HITS_KEY, []))
    if not pending:
        return
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    actor = str(session.info.get(ACTOR_KEY) or "inconnu")
    recorder = _recorder
    if recorder is None:
        log.error("%d refused change(s) of a signed document not audited: no refusal recorder is wired "
                  "(dcc.bootstrap wires it)", len(pending))
        return
    try:
        recorder(engine, actor, pending)
    except Exception:  # the refusal stands; losing its trace must not hide it
        log.exception("could not record %d refused change(s) of a signed document in the audit log",
                      len(pending))


def _after_begin(session: Session, _transaction: Any, connection: Any) -> None:
    info = connection.info  # the pooled DBAPI connection's info: outlives this checkout
    info.pop(HITS_KEY, None)  # refusals of an earlier, session-less use of the connection are not ours
    session.info.setdefault(CONN_INFOS_KEY, []).append(info)


def _after_commit(session: Session) -> None:
    _flush_attempts(session)


def _after_rollback(session: Session) -> None:
    _flush_attempts(session)


def install_guards() -> None:
    """Register the listeners (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        event.listen(Session, "before_flush", _before_flush)
        event.listen(Session, "after_begin", _after_begin)
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_rollback", _after_rollback)
        event.listen(Engine, "handle_error", _handle_error)
        _installed = True


__all__ = ["DETAIL_KEYS", "FROZEN_COLUMNS", "RefusalRecorder", "install_guards", "is_immutable_violation",
           "set_actor", "set_refusal_recorder"]
