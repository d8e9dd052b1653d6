"""State hooks of every flow: record each finished run in dcc's database (audit action `flow.run`), so that
`/metrics` reports flow runs without querying Prefect. Never raises: a monitoring record must not fail a flow."""

from __future__ import annotations

from typing import Any

from dcc.bootstrap import database
from dcc.logging import get_logger
from dcc.services.audit import record_audit

log = get_logger(__name__)


def _record(flow: Any, flow_run: Any, state: Any, outcome: str) -> None:
    try:
        with database().uow() as uow:
            record_audit(uow, actor="prefect", action="flow.run", entity="flow", entity_id=str(flow.name),
                         detail={"outcome": outcome, "flow_run_id": str(getattr(flow_run, "id", "")),
                                 "state": str(getattr(state, "name", ""))})
            uow.commit()
    except Exception:
        log.exception("flow.run not recorded", flow=str(getattr(flow, "name", "")))


def on_completion(flow: Any, flow_run: Any, state: Any) -> None:
    _record(flow, flow_run, state, "succes")


def on_failure(flow: Any, flow_run: Any, state: Any) -> None:
    _record(flow, flow_run, state, "echec")


HOOKS: dict[str, Any] = {"on_completion": [on_completion], "on_failure": [on_failure]}
