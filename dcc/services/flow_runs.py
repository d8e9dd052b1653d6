"""Recent runs of every dcc flow, for the monitors' and admins' page: from the Prefect server when one is
configured (its API, through the reader the caller passes), else from dcc's own `flow.run` audit rows (written
by the flows' state hooks). Either way each run shows its state in French, its duration, its counts (what the
flow returned, as recorded by the hook) and, with Prefect, a link to the run in Prefect's UI."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select

from dcc.adapters.db import models as m
from dcc.services import access
from dcc.services.uow import UnitOfWork

STATE_LABELS = {"COMPLETED": "terminé", "FAILED": "en échec", "CRASHED": "interrompu", "RUNNING": "en cours",
                "SCHEDULED": "programmé", "PENDING": "en attente", "CANCELLED": "annulé", "CANCELLING": "annulation",
                "PAUSED": "en pause", "succes": "terminé", "echec": "en échec"}
COUNT_LABELS = {"delivered": "délivrés", "dead": "lettres mortes", "pending": "en attente", "held": "retenus",
                "blocked": "bloqués", "assigned": "affectés", "planned": "planifiées", "created": "créées",
                "generated": "générés", "refused": "refusés", "result": "résultat", "items": "éléments",
                "processes": "processus"}


class RunLike(Protocol):
    """A run as the orchestrator reports it (read-only)."""

    @property
    def id(self) -> str: ...
    @property
    def flow(self) -> str: ...
    @property
    def state_type(self) -> str: ...
    @property
    def state_name(self) -> str: ...
    @property
    def start_time(self) -> datetime | None: ...
    @property
    def end_time(self) -> datetime | None: ...
    @property
    def duration_s(self) -> float | None: ...


@dataclass(frozen=True)
class FlowRunView:
    flow: str
    run_id: str
    state: str  # French
    failed: bool
    started_at: datetime | None
    ended_at: datetime | None
    duration_s: float | None
    counts: dict[str, int] = field(default_factory=dict)
    ui_url: str = ""
    artifact_url: str = ""  # the run's table artifact (counts, failures) in Prefect's UI


@dataclass(frozen=True)
class FlowRuns:
    source: str  # "prefect" | "audit"
    runs: list[FlowRunView]


def counts_of(value: Any) -> dict[str, int]:
    """The counts a flow returned: an int, a list (its length), a dict or a dataclass of ints/lists/dicts."""
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    if isinstance(value, bool):
        return {}
    if isinstance(value, int):
        return {"result": value}
    if isinstance(value, list | tuple | set):
        return {"items": len(value)}
    if isinstance(value, dict):
        out: dict[str, int] = {}
        for key, item in value.items():
            if isinstance(item, bool):
                continue
            if isinstance(item, int):
                out[str(key)] = item
            elif isinstance(item, list | tuple | set | dict):
                out[str(key)] = len(item)
        return out
    return {}


def count_label(key: str) -> str:
    return COUNT_LABELS.get(key, key.replace("_", " "))


def _dt(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _audit_rows(uow: UnitOfWork, limit: int) -> list[m.AuditEvent]:
    q = select(m.AuditEvent).where(m.AuditEvent.action == "flow.run").order_by(m.AuditEvent.id.desc()).limit(limit)
    return list(uow.session.scalars(q).all())


def recent_runs(uow: UnitOfWork, user: access.User, *, limit: int = 50,
                prefect_reader: Callable[[int], Sequence[RunLike]] | None = None,
                prefect_ui: str = "") -> FlowRuns:
    access.require_role(user, "monitor", "admin",
                        message="Les exécutions des flux sont réservées aux observateurs et administrateurs.")
    rows = _audit_rows(uow, limit * 2 if prefect_reader else limit)
    by_run_id = {str((r.detail or {}).get("flow_run_id", "")): r for r in rows}
    if prefect_reader is not None:
        runs = []
        for pr in prefect_reader(limit):
            audit_row = by_run_id.get(pr.id)
            counts = dict((audit_row.detail or {}).get("counts") or {}) if audit_row else {}
            runs.append(FlowRunView(
                flow=pr.flow, run_id=pr.id, state=STATE_LABELS.get(pr.state_type, pr.state_name or pr.state_type),
                failed=pr.state_type in ("FAILED", "CRASHED"), started_at=pr.start_time, ended_at=pr.end_time,
                duration_s=pr.duration_s, counts=counts,
                ui_url=f"{prefect_ui}/runs/flow-run/{pr.id}" if prefect_ui else "",
                artifact_url=f"{prefect_ui}/artifacts/artifact/{artifact}"
                if prefect_ui and (artifact := getattr(pr, "artifact_id", None)) else ""))
        return FlowRuns(source="prefect", runs=runs)
    runs = []
    for r in rows:
        d = r.detail or {}
        started, ended = _dt(d.get("started_at")), _dt(d.get("ended_at")) or r.at
        duration = d.get("duration_s")
        if duration is None and started and ended:
            duration = (ended - started).total_seconds()
        outcome = str(d.get("outcome", ""))
        runs.append(FlowRunView(
            flow=r.entity_id, run_id=str(d.get("flow_run_id", "")), state=STATE_LABELS.get(outcome, outcome),
            failed=outcome == "echec", started_at=started, ended_at=ended,
            duration_s=float(duration) if duration is not None else None,
            counts={str(k): int(v) for k, v in dict(d.get("counts") or {}).items()}))
    return FlowRuns(source="audit", runs=runs)


def fr_duration(seconds: float | None) -> str:
    if seconds is None:
        return "non renseignée"
    if seconds < 60:
        return f"{seconds:.1f} s".replace(".", ",")
    minutes, sec = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
