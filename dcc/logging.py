"""Structured logs (structlog) at the level DCC_LOG_LEVEL; no patient data in log lines.

Two renderings: `console` (development, readable) and `json` (production: one JSON object per line, for
journald / a log shipper). JSON is chosen by DCC_LOG_FORMAT=json, or by DCC_ENV=production unless
DCC_LOG_FORMAT says otherwise. Both dcc's structlog loggers and the standard `logging` loggers (uvicorn,
SQLAlchemy, Prefect's when they propagate) go through the same processors, so every line carries the
correlation ids bound in context:

- `request_id`: one per HTTP request (dcc.web.edge middleware, echoed in the `X-Request-ID` header);
- `flow_run_id` / `task_run_id`: the Prefect run the line was written in (read from Prefect's context);
- `document_id`, `message_id`, `case_id`: bound by the services around the work on one document.

Never log a patient's name, INS/NIR, birth date or clinical text: log ids (uuids) only. The
`redact_identity` processor is a last guard (it drops values of keys that name identity fields); the test
tests/e2e/test_logs_privacy.py scans the JSON logs of a demo run for every demo patient's identity.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog
from structlog.contextvars import bind_contextvars, bound_contextvars, merge_contextvars

__all__ = ["bind_contextvars", "bound_contextvars", "configure_logging", "correlate", "get_logger", "log_format"]

IDENTITY_KEYS = frozenset({
    "family", "family_name", "given", "given_name", "birth_name", "name", "birth_date", "birthdate", "ins",
    "nir", "matricule", "ins_nir", "address", "phone", "email", "text", "clinical_text", "comment",
})
"""Keys whose values are never written to a log line (a call site passing one is a bug; the value is dropped)."""


def log_format(env: str | None = None, fmt: str | None = None) -> str:
    """`json` or `console`, from DCC_LOG_FORMAT, else from DCC_ENV (production → json)."""
    fmt = (fmt if fmt is not None else os.environ.get("DCC_LOG_FORMAT", "")).strip().lower()
    if fmt in ("json", "console"):
        return fmt
    env = env if env is not None else os.environ.get("DCC_ENV", "development")
    return "json" if env.strip().lower() == "production" else "console"


def add_prefect_run_ids(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """The ids of the Prefect flow run and task run the line is written in (if Prefect is loaded)."""
    if "prefect.context" not in sys.modules:
        return event
    from prefect.context import FlowRunContext, TaskRunContext

    try:
        flow_ctx = FlowRunContext.get()
        task_ctx = TaskRunContext.get()
    except Exception:  # noqa: BLE001 — logging must never fail on a context lookup
        return event
    flow_run = getattr(flow_ctx, "flow_run", None)
    task_run = getattr(task_ctx, "task_run", None)
    if flow_run is not None:
        event.setdefault("flow_run_id", str(flow_run.id))
    if task_run is not None:
        event.setdefault("task_run_id", str(task_run.id))
    return event


def redact_identity(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in IDENTITY_KEYS.intersection(event):
        event[key] = "[retiré]"
    return event


def _shared_processors() -> list[Any]:
    return [
        merge_contextvars,
        add_prefect_run_ids,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_identity,
    ]


def configure_logging(level: str = "INFO", fmt: str | None = None, stream: Any = None) -> None:
    """Route structlog and the standard logging module through one handler on `stream` (default stderr)."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    fmt = log_format(fmt=fmt)
    renderer: Any = (structlog.processors.JSONRenderer(ensure_ascii=False) if fmt == "json"
                     else structlog.dev.ConsoleRenderer(colors=False))
    shared = _shared_processors()
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, renderer],
    ))
    handler.set_name("dcc")
    root = logging.getLogger()
    for h in list(root.handlers):
        if h.get_name() == "dcc":
            root.removeHandler(h)
    root.addHandler(handler)
    # DEBUG applies to dcc's own loggers only: libraries dump payloads at DEBUG (signxml the canonicalized
    # SAML assertion with the patient's identity, aiosmtpd every mail line), never worth a patient's name
    root.setLevel(max(numeric, logging.INFO))
    for ours in ("dcc", "flows"):
        logging.getLogger(ours).setLevel(numeric)
    for noisy in ("alembic", "httpx", "httpcore", "fontTools", "weasyprint"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))
    # payload dumpers, and SQLAlchemy that logs statements WITH their parameters at INFO: WARNING at least
    for payload in ("sqlalchemy", "signxml", "xmlsec", "mail.log", "aiosmtpd"):
        logging.getLogger(payload).setLevel(max(numeric, logging.WARNING))
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, *shared, structlog.stdlib.PositionalArgumentsFormatter(),
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def configure_from_settings(settings: Any) -> None:
    configure_logging(settings.log_level, fmt=log_format(env=settings.env))


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)


@contextmanager
def correlate(**ids: str | None) -> Iterator[None]:
    """Bind correlation ids (document_id=…, case_id=…) to every log line written inside the block."""
    with bound_contextvars(**{k: v for k, v in ids.items() if v is not None}):
        yield
