"""Helpers of the benchmark tests: print the figures, check their sanity (never a timing threshold)."""

from __future__ import annotations

import json
from typing import Any


def report(name: str, figures: dict[str, Any]) -> None:
    """Print the figures (`pytest -s` shows them) as one JSON line, easy to grep and paste."""
    print(f"\nBENCH {name} {json.dumps(figures, ensure_ascii=False)}", flush=True)


def assert_positive(figures: dict[str, Any], *keys: str) -> None:
    for key in keys:
        value = figures[key]
        assert isinstance(value, int | float) and value > 0, f"{key}={value!r}"
