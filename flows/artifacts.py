"""The table artifact a drain run publishes (counts and failures, French labels, ids only, never patient
data): one way to publish it for every flow."""

from __future__ import annotations

from typing import Any

from structlog.stdlib import BoundLogger


def publish_table(key: str, rows: list[dict[str, Any]], *, description: str, log: BoundLogger,
                  event: str) -> str | None:
    """Publish `rows` as a table artifact versioned under `key`; returns its id. A failure to publish is
    logged under `event` by the flow's `log`, never raised: what the run did is already committed."""
    from prefect.artifacts import create_table_artifact

    try:
        artifact_id = create_table_artifact(key=key, table=rows, description=description)
    except Exception:
        log.exception(event)
        return None
    return str(artifact_id)
