"""Statements built once per filter: the access filters (`dcc.services.access.board_filter`…) are built once per
user, so a statement built on one is built once per user, and a statement built once computes its SQL cache
key once (building a select with joins costs more than running it on SQLite)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement


class StatementsByFilter:
    """Keyed by the filter's identity (and `extra`), checked against the filter itself (an id may be reused
    once a filter is gone); emptied when full. A filter may be None (no filter)."""

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._entries: dict[tuple[Any, ...], tuple[ColumnElement[bool] | None, Any]] = {}

    def get(self, condition: ColumnElement[bool] | None, build: Callable[[], Any], *extra: Any) -> Any:
        key = (id(condition), *extra)
        entry = self._entries.get(key)
        if entry is None or entry[0] is not condition:
            if len(self._entries) >= self.limit:
                self._entries.clear()
            entry = self._entries[key] = (condition, build())
        return entry[1]
