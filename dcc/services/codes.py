"""Coded fields of the forms checked against the referentials in force in the database.

One path for every coded field a user enters (a case's topography and morphology, the specialties it needs,
the decision's treatments, the PPS entries and update motive): the code must be an active concept of the
version in force of its referential in this database (imported by `dcc referentials import` or the
`refresh_referentials` flow, the package baseline loaded by `dcc db upgrade`). Neither the package's JSON nor
the agency kit is read here. A code a later version retired is refused for a new entry. Reads only: the
caller checks before it writes anything.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import bindparam, func, select

from dcc.adapters.db import models as m
from dcc.domain.documents import Code
from dcc.errors import UnknownCode, ValidationFailed
from dcc.services.uow import UnitOfWork


@dataclass(frozen=True)
class CodedEntry:
    field: str  # the field's name in the form or API (e.g. "topography_code", "items[0].code")
    label: str  # the field's French label, for the message
    system: str  # the referential (value set or terminology) in force, e.g. JDV_Tumeur_CISIS
    code: str


def _cap(label: str) -> str:
    return label[:1].upper() + label[1:]


class RetiredCode(UnknownCode):
    code = "code_retire"

    def __init__(self, *, field: str, label: str, value: str, value_set: str, version: str) -> None:
        ValidationFailed.__init__(
            self, f"{_cap(label)} ({field}) : le code « {value} » a été retiré du référentiel {value_set} "
                  f"(version {version} en vigueur) ; choisissez un code en vigueur.", field=field)
        self.value = value
        self.value_set = value_set


class CodeNotInForce(UnknownCode):
    def __init__(self, *, field: str, label: str, value: str, value_set: str, version: str | None) -> None:
        where = (f"au référentiel {value_set} en vigueur (version {version})" if version
                 else f"au référentiel {value_set}, qui n'est pas chargé dans la base (dcc db upgrade ou "
                      "dcc referentials import)")
        ValidationFailed.__init__(self, f"{_cap(label)} ({field}) : le code « {value} » n'appartient pas "
                                        f"{where}.", field=field)
        self.value = value
        self.value_set = value_set


def _versions(uow: UnitOfWork, systems: Iterable[str]) -> dict[str, str]:
    """The version in force (last imported) of each system that has one."""
    v = m.ReferentialVersion
    last = (select(v.system, func.max(v.imported_at).label("at")).where(v.system.in_(list(systems)))
            .group_by(v.system).subquery())
    rows = uow.session.execute(select(v.system, v.version).join(last, (last.c.system == v.system)
                                                                 & (last.c.at == v.imported_at)))
    return {system: version for system, version in rows}


def check(uow: UnitOfWork, entries: Iterable[CodedEntry]) -> dict[tuple[str, str], Code]:
    """Every entry's code active in the version in force of its referential, else a French error naming the
    field and the code (the first wrong entry, in the order given). Returns the concepts by (system, code)."""
    wanted = [e for e in entries if e.code]
    by_system: dict[str, set[str]] = defaultdict(set)
    for e in wanted:
        by_system[e.system].add(e.code)
    found: dict[tuple[str, str], tuple[Code, bool]] = {}
    c = m.ReferentialConcept
    for system, codes in by_system.items():
        for code, label, code_system, active in uow.session.execute(
                select(c.code, c.label, c.code_system, c.active).where(c.system == system, c.code.in_(codes))):
            found[(system, code)] = (Code(code=code, system=code_system, display=label), bool(active))
    problems = [e for e in wanted if not found.get((e.system, e.code), (None, False))[1]]
    if problems:
        e = problems[0]
        version = _versions(uow, [e.system]).get(e.system)
        if (e.system, e.code) in found and version is not None:
            raise RetiredCode(field=e.field, label=e.label, value=e.code, value_set=e.system, version=version)
        raise CodeNotInForce(field=e.field, label=e.label, value=e.code, value_set=e.system, version=version)
    return {key: concept for key, (concept, _) in found.items()}


def concept(uow: UnitOfWork, system: str, code: str, *, field: str = "code") -> Code:
    """A code of a referential in the database, active or retired (a case or decision entered before a later
    version retired it keeps its code and label); UnknownCode when the database never had it."""
    c = m.ReferentialConcept
    row = uow.session.execute(select(c.code, c.label, c.code_system)
                              .where(c.system == system, c.code == code)).first()
    if row is None:
        raise UnknownCode(field=field, value=code, value_set=system)
    return Code(code=row.code, system=row.code_system, display=row.label)


def active_concepts(uow: UnitOfWork, system: str) -> list[Code]:
    """The active codes of a referential, in code order (the choices a form offers)."""
    c = m.ReferentialConcept
    return [Code(code=r.code, system=r.code_system, display=r.label) for r in uow.session.execute(
        select(c.code, c.label, c.code_system, c.id).where(c.system == system, c.active.is_(True)).order_by(c.id))]


@dataclass(frozen=True)
class Choice:
    code: str
    display: str
    active: bool  # False: retired since it was entered (shown on what was entered, refused for a new entry)


def choices(uow: UnitOfWork, system: str, *, keep: Iterable[str] = ()) -> list[Choice]:
    """The choices a form offers for a value set: its active codes in the version in force in the database
    (an import that adds or retires codes changes the form), plus the codes of `keep` (what the record being
    edited holds) that a later version retired, marked inactive, so the form still shows them."""
    offered = [Choice(c.code, c.display, True) for c in active_concepts(uow, system)]
    present = {c.code for c in offered}
    missing = [code for code in dict.fromkeys(keep) if code and code not in present]
    if missing:
        c = m.ReferentialConcept
        labels = dict(uow.session.execute(select(c.code, c.label).where(c.system == system, c.code.in_(missing))).all())
        offered.extend(Choice(code, labels.get(code, code), False) for code in missing)
    return offered


_LABELS = select(m.ReferentialConcept.code, m.ReferentialConcept.label).where(
    m.ReferentialConcept.system == bindparam("system"),
    m.ReferentialConcept.code.in_(bindparam("codes", expanding=True)))  # built once: every case page asks


def labels(uow: UnitOfWork, system: str, wanted: Iterable[str]) -> dict[str, str]:
    """The database's label of each code of `wanted` (active or retired); a code the database never had
    keeps its code as label."""
    wanted = [w for w in dict.fromkeys(wanted) if w]
    if not wanted:
        return {}
    found = dict(uow.session.connection().execute(_LABELS, {"system": system, "codes": wanted}).all())
    return {code: found.get(code, code) for code in wanted}


def versions_in_force(uow: UnitOfWork, systems: Iterable[str]) -> dict[str, tuple[str, str]]:
    """(version id, version) of the version in force (last imported) of each system that has one."""
    v = m.ReferentialVersion
    wanted = list(dict.fromkeys(systems))
    last = (select(v.system, func.max(v.imported_at).label("at")).where(v.system.in_(wanted))
            .group_by(v.system).subquery())
    rows = uow.session.execute(select(v.system, v.id, v.version).join(
        last, (last.c.system == v.system) & (last.c.at == v.imported_at)))
    return {system: (id_, version) for system, id_, version in rows}
