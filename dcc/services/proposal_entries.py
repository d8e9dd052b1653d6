"""Drugs and acts named in a board's proposal: coded entries checked against the referential versions in force
in the database (drugs: ATC, the agency's terminology, or UCD, the drug list imported as CSV; acts: CCAM),
stored on the decision with the version used.

A drug code says its referential: a UCD code is 7 or 13 digits, an ATC code starts with a letter (L01CD01).
An unknown or retired code is refused with a French message naming the field and the code (dcc.services.codes),
before anything is written.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from dcc.adapters.db import models as m
from dcc.domain.states import DocumentStatus
from dcc.errors import ValidationFailed
from dcc.services import codes
from dcc.services.uow import UnitOfWork

DRUG, ACT = "drug", "act"
DRUG_SYSTEMS = ("ATC", "UCD")
ACT_SYSTEMS = ("CCAM",)
FIELDS = {DRUG: "drug_codes", ACT: "act_codes"}
LABELS = {DRUG: "médicament", ACT: "acte (CCAM)"}
MAX_ENTRIES = 20


def normalise(raw: str) -> str:
    """The code typed or picked in a suggestion (« L01CD01 — paclitaxel » gives L01CD01)."""
    text = raw.strip().split(" — ", 1)[0].split(" ", 1)[0] if raw.strip() else ""
    return text if text.isdigit() else text.upper()


def system_of(kind: str, code: str) -> str:
    if kind == ACT:
        return "CCAM"
    return "UCD" if code.isdigit() else "ATC"


@dataclass(frozen=True)
class EntryView:
    """An entry as a page shows it (a posted one not recorded yet, or a recorded one)."""

    kind: str
    system: str
    code: str
    label: str
    version: str
    atc: str = ""
    known: bool = True  # False: the database has no such code in that referential
    active: bool = True  # False: retired by the version in force


def _clean(kind: str, raw_codes: Iterable[str]) -> list[str]:
    out = [normalise(c) for c in raw_codes]
    return list(dict.fromkeys(c for c in out if c))


def resolve(uow: UnitOfWork, *, drugs: Sequence[str], acts: Sequence[str]) -> list[dict[str, Any]]:
    """The entries to store: each code active in the version in force of its referential, else a French error
    (`drug_codes` / `act_codes`) and nothing is written. Duplicates are kept once. Reads only."""
    wanted = [(DRUG, c) for c in _clean(DRUG, drugs)] + [(ACT, c) for c in _clean(ACT, acts)]
    for kind in (DRUG, ACT):
        if sum(1 for k, _ in wanted if k == kind) > MAX_ENTRIES:
            raise ValidationFailed(f"Au plus {MAX_ENTRIES} {LABELS[kind]}s par proposition.", field=FIELDS[kind])
    if not wanted:
        return []
    entries = [codes.CodedEntry(FIELDS[kind], LABELS[kind], system_of(kind, code), code) for kind, code in wanted]
    found = codes.check(uow, entries)
    versions = codes.versions_in_force(uow, {e.system for e in entries})
    atc = _atc_of_ucd(uow, [e.code for e in entries if e.system == "UCD"])
    out = []
    for (kind, code), e in zip(wanted, entries, strict=True):
        concept = found[(e.system, code)]
        version_id, version = versions[e.system]
        out.append({"kind": kind, "system": e.system, "code": code, "code_system": concept.system,
                    "label": concept.display, "version": version, "version_id": version_id,
                    "atc": atc.get(code, "") if e.system == "UCD" else ""})
    return out


def _atc_of_ucd(uow: UnitOfWork, ucd: list[str]) -> dict[str, str]:
    if not ucd:
        return {}
    c = m.ReferentialConcept
    return {code: str((attrs or {}).get("atc") or "") for code, attrs in uow.session.execute(
        select(c.code, c.attributes).where(c.system == "UCD", c.code.in_(ucd)))}


def describe(uow: UnitOfWork, kind: str, raw_codes: Sequence[str]) -> list[EntryView]:
    """Posted codes as the form shows them before they are recorded (lenient: an unknown or retired code is
    shown as such; recording refuses it)."""
    wanted = _clean(kind, raw_codes)
    if not wanted:
        return []
    by_system: dict[str, list[str]] = {}
    for code in wanted:
        by_system.setdefault(system_of(kind, code), []).append(code)
    c = m.ReferentialConcept
    rows: dict[tuple[str, str], tuple[str, bool, dict[str, Any]]] = {}
    for system, group in by_system.items():
        for code, label, active, attrs in uow.session.execute(
                select(c.code, c.label, c.active, c.attributes).where(c.system == system, c.code.in_(group))):
            rows[(system, code)] = (label, bool(active), attrs or {})
    versions = codes.versions_in_force(uow, by_system)
    out = []
    for code in wanted:
        system = system_of(kind, code)
        label, active, attrs = rows.get((system, code), (code, False, {}))
        out.append(EntryView(kind=kind, system=system, code=code, label=label,
                             version=versions.get(system, ("", ""))[1], atc=str(attrs.get("atc") or ""),
                             known=(system, code) in rows, active=active))
    return out


def recorded(entries: Iterable[dict[str, Any]], kind: str) -> list[EntryView]:
    """A decision's stored entries of `kind`, as recorded (label and version of the day they were entered)."""
    return [EntryView(kind=e["kind"], system=e["system"], code=e["code"], label=e["label"], version=e["version"],
                      atc=e.get("atc") or "") for e in entries if e.get("kind") == kind]


def codes_of(entries: Iterable[dict[str, Any]], kind: str) -> list[str]:
    return [e["code"] for e in entries if e.get("kind") == kind]


def retired_in_drafts(uow: UnitOfWork, *, board_ids: Collection[str] | None = None
                      ) -> list[tuple[str, str, str, str, str, str]]:
    """Unsigned Fiches RCP whose decision names a drug or act a later referential version retired: (document
    id, case id, board id, French field label, code, referential), for the coordinator's retired-code list."""
    c = m.ReferentialConcept
    retired = set(uow.session.execute(select(c.system, c.code).where(
        c.system.in_(DRUG_SYSTEMS + ACT_SYSTEMS), c.active.is_(False))).tuples())
    if not retired:
        return []
    scope = [] if board_ids is None else [m.Case.board_id.in_(list(board_ids))]
    rows = uow.session.execute(
        select(m.Document.id, m.Case.id, m.Case.board_id, m.Decision.proposal_entries)
        .join(m.Case, m.Case.id == m.Document.case_id).join(m.Decision, m.Decision.case_id == m.Case.id)
        .where(m.Document.status == DocumentStatus.DRAFT.value, m.Document.kind == "FRCP", *scope)
        .order_by(m.Document.created_at, m.Document.id))
    return [(doc_id, case_id, board_id, LABELS.get(e.get("kind", ""), "médicament ou acte"), e["code"], e["system"])
            for doc_id, case_id, board_id, entries in rows for e in (entries or [])
            if (e.get("system"), e.get("code")) in retired]
