"""Recent flow runs read from a Prefect server's API (prefect's own client), for the flow runs page.

Used only when a Prefect server is configured (PREFECT_API_URL); without one, dcc reads its own `flow.run`
audit rows instead (dcc.services.flow_runs)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class PrefectRun:
    id: str
    flow: str
    name: str
    state_type: str  # COMPLETED, FAILED, RUNNING… (Prefect's StateType)
    state_name: str
    start_time: datetime | None
    end_time: datetime | None
    duration_s: float | None
    artifact_id: str | None = None  # the run's (last) table artifact, when it published one


def configured_api_url() -> str | None:
    """The Prefect API URL in effect (environment or active Prefect settings), or None."""
    from prefect.settings import PREFECT_API_URL

    value = PREFECT_API_URL.value()
    return str(value) if value else None


def ui_url(api_url: str) -> str:
    """The Prefect UI's base URL: PREFECT_UI_URL when set, else the API URL without its /api suffix."""
    from prefect.settings import PREFECT_UI_URL

    value = PREFECT_UI_URL.value()
    if value:
        return str(value).rstrip("/")
    base = api_url.rstrip("/")
    return base[: -len("/api")] if base.endswith("/api") else base


def read_recent_runs(limit: int = 50) -> list[PrefectRun]:
    """The most recent flow runs (newest start first) with their flow's name."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterType,
        FlowFilter,
        FlowFilterId,
    )
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(limit=limit, sort=FlowRunSort.START_TIME_DESC)
        flow_ids = list({r.flow_id for r in runs})
        names = {f.id: f.name for f in client.read_flows(flow_filter=FlowFilter(id=FlowFilterId(any_=flow_ids)))} \
            if flow_ids else {}
        artifacts = {a.flow_run_id: str(a.id) for a in client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[r.id for r in runs]),
                                           type=ArtifactFilterType(any_=["table"])))} if runs else {}
    out = []
    for r in runs:
        duration = r.total_run_time.total_seconds() if r.total_run_time else None
        if not duration and r.start_time and r.end_time:
            duration = (r.end_time - r.start_time).total_seconds()
        out.append(PrefectRun(id=str(r.id), flow=names.get(r.flow_id, str(r.flow_id)), name=r.name,
                              state_type=str(r.state_type.value if r.state_type else ""),
                              state_name=r.state_name or "", start_time=r.start_time, end_time=r.end_time,
                              duration_s=duration, artifact_id=artifacts.get(r.id)))
    return out
