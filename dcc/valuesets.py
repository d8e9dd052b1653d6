"""Codes and labels from the ANS value sets, copied into the package (dcc/data/valuesets.json).

Regenerate with `python scripts/import_value_sets.py`. Running dcc never reads the ANS kit.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from dcc.domain.documents import Code
from dcc.errors import UnknownCode


@cache
def _all() -> dict[str, dict[str, object]]:
    text = resources.files("dcc.data").joinpath("valuesets.json").read_text(encoding="utf-8")
    data: dict[str, dict[str, object]] = json.loads(text)
    return data


def names() -> list[str]:
    return sorted(_all())


def oid(value_set: str) -> str:
    return str(_all()[value_set]["oid"])


def concepts(value_set: str) -> list[Code]:
    vs = _all().get(value_set)
    if vs is None:
        raise KeyError(f"unknown value set {value_set}")
    raw = vs["concepts"]
    assert isinstance(raw, list)
    return [Code(code=c["code"], system=c["codeSystem"], display=c["displayName"]) for c in raw]


@cache
def _index(value_set: str) -> dict[str, Code]:
    return {c.code: c for c in concepts(value_set)}


def contains(value_set: str, code: str) -> bool:
    return code in _index(value_set)


def lookup(value_set: str, code: str, *, field: str = "code") -> Code:
    """The Code for `code` in `value_set`, or UnknownCode (a 422 with a French message)."""
    found = _index(value_set).get(code)
    if found is None:
        raise UnknownCode(field=field, value=code, value_set=value_set)
    return found
