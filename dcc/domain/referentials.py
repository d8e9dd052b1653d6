"""Referentials (value sets, terminologies, drugs, regional guidelines): pure rules.

A referential is imported as a version: the set of its concepts (code -> label) at an effective date.
Comparing two versions gives the diff report (added, retired, relabelled codes). Search works on
normalised tokens: lower case, accents and ligatures folded, punctuation dropped.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date

KINDS = ("value_set", "terminology", "drugs", "guidelines")

_LIGATURES = str.maketrans({"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "ß": "ss"})
_NOT_TOKEN = re.compile(r"[^a-z0-9.]+")


def normalise(text: str) -> str:
    """Lower case, without accents or ligatures: "Œsophage, Hémopathie" -> "oesophage, hemopathie"."""
    folded = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
    return "".join(ch for ch in folded if not unicodedata.combining(ch)).lower()


def tokens(text: str) -> list[str]:
    """Search tokens of a text, in order, without duplicates: words of letters and digits; a dot inside a
    word is dropped so that "C50.9" gives "c509" (and the query "c50.9" or "C509" finds it)."""
    out: list[str] = []
    for raw in _NOT_TOKEN.split(normalise(text)):
        word = raw.replace(".", "")
        if word and word not in out:
            out.append(word)
    return out


def code_token(code: str) -> str:
    return "".join(tokens(code))


@dataclass(frozen=True)
class Concept:
    code: str
    label: str
    code_system: str = ""
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Guideline:
    """One regional guideline (référentiel régional) a decision may declare conformity to."""

    name: str
    version: str
    date: date
    organ: str = ""  # code of the organ (JDV_RCP_Organe_CISIS), empty: any organ
    url: str = ""

    @property
    def key(self) -> str:
        return f"{self.name}|{self.version}"


@dataclass(frozen=True)
class ParsedReferential:
    """What one source file holds, before it is compared to the version in force."""

    system: str  # e.g. JDV_RCP_Organe_CISIS, CIM-10, UCD, referentiels_regionaux
    kind: str  # one of KINDS
    oid: str
    title: str
    version: str
    effective_date: date | None
    source: str
    checksum: str
    concepts: tuple[Concept, ...] = ()
    retired_codes: tuple[str, ...] = ()  # codes the source itself marks as retired (SVS dateFin)
    guidelines: tuple[Guideline, ...] = ()


@dataclass(frozen=True)
class Relabel:
    code: str
    old: str
    new: str


@dataclass(frozen=True)
class Diff:
    added: tuple[str, ...] = ()
    retired: tuple[str, ...] = ()
    relabelled: tuple[Relabel, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.added or self.retired or self.relabelled)

    def as_dict(self) -> dict[str, object]:
        return {
            "added": list(self.added),
            "retired": list(self.retired),
            "relabelled": [{"code": r.code, "old": r.old, "new": r.new} for r in self.relabelled],
        }


def diff(active: dict[str, str], incoming: dict[str, str]) -> Diff:
    """Compare the active concepts (code -> label) with a new version's concepts."""
    added = tuple(sorted(set(incoming) - set(active)))
    retired = tuple(sorted(set(active) - set(incoming)))
    relabelled = tuple(
        Relabel(code, active[code], incoming[code])
        for code in sorted(set(active) & set(incoming))
        if active[code] != incoming[code]
    )
    return Diff(added, retired, relabelled)
