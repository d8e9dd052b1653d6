"""Benchmarks run only on purpose: `DCC_BENCH=1 pytest tests/benchmarks -s` (what `make bench` does).

`make test` collects this directory like any other, and every item here is skipped unless the
environment variable DCC_BENCH is "1": a benchmark takes minutes and asserts no timing anyway.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ENABLED = os.environ.get("DCC_BENCH") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if ENABLED:
        return
    skip = pytest.mark.skip(reason="benchmark: set DCC_BENCH=1 (make bench) to run it")
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(skip)
