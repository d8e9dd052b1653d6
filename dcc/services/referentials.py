"""Referentials in the database: import a version (diff report), the package baseline, search for forms,
the version in force per referential, codes retired under cases and unsigned documents, and the catalogue
of regional guidelines. Running dcc never reads the agency kit: imported versions live in the database."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from operator import itemgetter
from pathlib import Path
from typing import Any

from sqlalchemy import case as sql_case
from sqlalchemy import delete, func, insert, select, tuple_, update
from sqlalchemy.orm import aliased

from dcc.adapters.db import models as m
from dcc.adapters.db.bulk import bulk_insert
from dcc.domain import referentials as ref
from dcc.domain.states import CaseStatus, DocumentStatus
from dcc.errors import DccError, NotFound, ValidationFailed
from dcc.services import proposal_entries
from dcc.services.audit import record_audit
from dcc.services.uow import UnitOfWork

BASELINE_SOURCE = "dcc/data/valuesets.json (référentiel de base du paquet)"
MIN_QUERY = 2
MAX_LIMIT = 50
DRIVER_CAP = 300  # counting a word's concepts stops there: past it, the longer word drives (SQLite)
PROBE_CAP = 2000  # PostgreSQL: one-character words are probed on fewer candidates than this, else listed
PREFIX_CHUNK = 20000  # concepts whose prefix rows are built, sorted and written together (~700,000 rows)
MAX_DIFF_CODES = 5000  # a diff report keeps at most this many codes per list (counts are always exact)

# Fields of a case (or of its decision) checked against a value set for retired codes
CHECKED_FIELDS: dict[str, tuple[str, str]] = {
    "topography_code": ("JDV_Tumeur_CISIS", "topographie (CIM-10)"),
    "morphology_code": ("JDV_Morphologie_CISIS", "morphologie (CIM-O-3)"),
    "proposal_codes": ("JDV_TypeTraitement_FRCP_CISIS", "proposition de traitement"),
}


@dataclass(frozen=True)
class ImportReport:
    system: str
    kind: str
    version: str
    effective_date: date
    source: str
    status: str  # nouveau | mis_a_jour | inchange
    concept_count: int
    diff: ref.Diff
    version_id: str | None

    def summary(self) -> str:
        if self.status == "inchange":
            return f"{self.system} : inchangé (même fichier déjà importé)."
        head = f"{self.system} version {self.version} du {self.effective_date:%d/%m/%Y} : {self.concept_count} codes"
        if self.status == "nouveau":
            return f"{head} (premier import)."
        d = self.diff
        return (f"{head} ; {len(d.added)} ajouté(s), {len(d.retired)} retiré(s), "
                f"{len(d.relabelled)} libellé(s) modifié(s).")


@dataclass(frozen=True)
class VersionView:
    system: str
    kind: str
    title: str
    oid: str
    version: str
    effective_date: date | None
    source: str
    concept_count: int
    imported_at: datetime
    imported_by: str
    diff: dict[str, Any]


@dataclass(frozen=True)
class SearchHit:
    code: str
    label: str
    code_system: str
    score: int
    attributes: dict[str, Any]


@dataclass(frozen=True)
class RetiredFlag:
    kind: str  # case | document
    id: str
    case_id: str
    board_id: str
    field: str  # French label of the field
    code: str
    system: str


@dataclass(frozen=True)
class GuidelineView:
    name: str
    version: str
    date: date
    organ: str
    url: str


# ------------------------------------------------------------------ import


def _concept_tokens(code: str, label: str) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    seen: set[str] = set()
    ct = ref.code_token(code)[:80]
    if ct:
        out.append((ct, 3))
        seen.add(ct)
    for i, tok in enumerate(ref.tokens(label)):
        tok = tok[:80]
        if tok not in seen:
            seen.add(tok)
            out.append((tok, 2 if i == 0 else 1))
    return out


def _prefixes(code: str, label: str) -> dict[str, int]:
    return _prefix_penalties(_concept_tokens(code, label))


def _prefix_penalties(tokens: Iterable[tuple[str, int]]) -> dict[str, int]:
    """The concept's penalty (40 - score) for each prefix of its tokens: a query word `w` scores, on a concept,
    the best of its tokens starting with `w`: weight × 10 (3 the code, 2 the label's first word, 1 another),
    + 5 when the token is `w` itself."""
    out: dict[str, int] = {}
    get = out.get
    for tok, weight in tokens:
        base = 40 - weight * 10
        for i in range(1, len(tok)):
            prefix = tok[:i]
            if base < get(prefix, 99):
                out[prefix] = base
        if base - 5 < get(tok, 99):  # the whole token: + 5
            out[tok] = base - 5
    return out


def _add_tokens(uow: UnitOfWork, system: str, rows: Sequence[tuple[int, str, str]]) -> None:
    """The search rows of `rows` (concept id, code, label): its tokens, and the prefixes of its tokens with
    the concept's penalty for each, written in bulk (COPY on PostgreSQL), a chunk of concepts at a time. The
    prefix rows of a chunk go sorted by prefix: the table's key (system, prefix, ...) then grows at a few
    places instead of random ones (on PostgreSQL under load, half the time of unsorted rows for 40,000 codes)."""
    s = uow.session
    for i in range(0, len(rows), PREFIX_CHUNK):
        tokens: list[tuple[str, str, int, int, int]] = []
        prefixes: list[tuple[str, str, int, int, int]] = []
        for concept_id, code, label in rows[i:i + PREFIX_CHUNK]:
            toks = _concept_tokens(code, label)
            n = len(label)
            tokens.extend((system, t, concept_id, w, n) for t, w in toks)
            prefixes.extend((system, p, concept_id, penalty, n) for p, penalty in _prefix_penalties(toks).items())
        bulk_insert(s, m.ReferentialToken.__table__, ("system", "token", "concept_id", "weight", "label_len"),
                    tokens)
        prefixes.sort(key=itemgetter(1))  # by prefix: a C-speed sort, enough for the key's locality
        bulk_insert(s, m.ReferentialPrefix.__table__, ("system", "prefix", "concept_id", "penalty", "label_len"),
                    prefixes)


def _drop_tokens(uow: UnitOfWork, ids: Sequence[int]) -> None:
    """Delete the search rows of concepts `ids`: their prefix rows by full key (computed from their tokens,
    the prefix table has no other index), then their tokens."""
    s = uow.session
    t, p = m.ReferentialToken, m.ReferentialPrefix
    for i in range(0, len(ids), 5000):
        chunk = ids[i:i + 5000]
        tokens: dict[tuple[str, int, int], list[tuple[str, int]]] = {}
        for system, concept_id, label_len, token, weight in s.execute(
                select(t.system, t.concept_id, t.label_len, t.token, t.weight).where(t.concept_id.in_(chunk))):
            tokens.setdefault((system, concept_id, label_len), []).append((token, weight))
        keys = [(system, prefix, penalty, label_len, concept_id)
                for (system, concept_id, label_len), toks in tokens.items()
                for prefix, penalty in _prefix_penalties(toks).items()]
        for j in range(0, len(keys), 1000):
            s.execute(delete(p).where(tuple_(p.system, p.prefix, p.penalty, p.label_len, p.concept_id)
                                      .in_(keys[j:j + 1000])))
        s.execute(delete(t).where(t.concept_id.in_(chunk)))


def _cap(codes: Sequence[Any]) -> list[Any]:
    return list(codes[:MAX_DIFF_CODES])


def _apply(uow: UnitOfWork, parsed: ref.ParsedReferential, *, actor: str, effective: date,
           version: str, audit: bool = True) -> ImportReport:
    s = uow.session
    if s.scalar(select(m.ReferentialVersion.id).where(m.ReferentialVersion.system == parsed.system,
                                                      m.ReferentialVersion.checksum == parsed.checksum)):
        return ImportReport(parsed.system, parsed.kind, version, effective, parsed.source, "inchange",
                            len(parsed.concepts), ref.Diff(), None)
    first = s.scalar(select(func.count()).select_from(m.ReferentialVersion)
                     .where(m.ReferentialVersion.system == parsed.system)) == 0
    existing = {row.code: row for row in s.execute(
        select(m.ReferentialConcept.id, m.ReferentialConcept.code, m.ReferentialConcept.label,
               m.ReferentialConcept.active, m.ReferentialConcept.attributes, m.ReferentialConcept.code_system)
        .where(m.ReferentialConcept.system == parsed.system))}
    active = {code: row.label for code, row in existing.items() if row.active}
    incoming = {c.code: c for c in parsed.concepts}
    d = ref.diff(active, {code: c.label for code, c in incoming.items()})
    if s.scalar(select(m.ReferentialVersion.id).where(m.ReferentialVersion.system == parsed.system,
                                                      m.ReferentialVersion.version == version)):
        if d.empty:  # the same codes and labels under the same version (e.g. the kit file of the baseline)
            return ImportReport(parsed.system, parsed.kind, version, effective, parsed.source, "inchange",
                                len(parsed.concepts), d, None)
        raise ValidationFailed(f"La version « {version} » du référentiel {parsed.system} est déjà importée avec "
                               "un contenu différent : donnez un autre numéro de version.", field="version")
    diff_json: dict[str, Any] = {"added_count": len(d.added), "retired_count": len(d.retired),
                                 "relabelled_count": len(d.relabelled)}
    if not first:
        full = d.as_dict()
        diff_json |= {"added": _cap(full["added"]), "retired": _cap(full["retired"]),  # type: ignore[arg-type]
                      "relabelled": _cap(full["relabelled"])}  # type: ignore[arg-type]
    v = m.ReferentialVersion(system=parsed.system, kind=parsed.kind, oid=parsed.oid, title=parsed.title[:200],
                             version=version, effective_date=effective, source=parsed.source[:500],
                             checksum=parsed.checksum, concept_count=len(incoming), diff=diff_json,
                             imported_by=actor, imported_at=m.utcnow())
    s.add(v)
    s.flush()
    # new codes, and retired codes coming back
    new_rows = [{"system": parsed.system, "code": code, "code_system": incoming[code].code_system,
                 "label": incoming[code].label, "attributes": dict(incoming[code].attributes), "active": True,
                 "version_id": v.id} for code in d.added if code not in existing]
    for i in range(0, len(new_rows), 10000):
        s.execute(insert(m.ReferentialConcept), new_rows[i:i + 10000])
    changed = [existing[r.code].id for r in d.relabelled]
    for code in list(d.added) + [r.code for r in d.relabelled]:
        if code in existing:
            c = incoming[code]
            s.execute(update(m.ReferentialConcept).where(m.ReferentialConcept.id == existing[code].id)
                      .values(label=c.label, code_system=c.code_system, attributes=dict(c.attributes), active=True,
                              retired_version_id=None, version_id=v.id))
    for code, c in incoming.items():  # same code and label, other attributes (e.g. a drug's ATC class)
        row = existing.get(code)
        if row is not None and row.active and code in active and active[code] == c.label and (
                dict(row.attributes or {}) != dict(c.attributes) or row.code_system != c.code_system):
            s.execute(update(m.ReferentialConcept).where(m.ReferentialConcept.id == row.id)
                      .values(attributes=dict(c.attributes), code_system=c.code_system, version_id=v.id))
    retired_ids = [existing[code].id for code in d.retired]
    for i in range(0, len(retired_ids), 5000):
        s.execute(update(m.ReferentialConcept).where(m.ReferentialConcept.id.in_(retired_ids[i:i + 5000]))
                  .values(active=False, retired_version_id=v.id))
    _drop_tokens(uow, retired_ids + changed)
    ids = {code: row.id for code, row in existing.items()}
    if new_rows:
        ids |= {row.code: row.id for row in s.execute(
            select(m.ReferentialConcept.id, m.ReferentialConcept.code)
            .where(m.ReferentialConcept.system == parsed.system, m.ReferentialConcept.version_id == v.id))}
    touched = list(d.added) + [r.code for r in d.relabelled]
    _add_tokens(uow, parsed.system, [(ids[code], code, incoming[code].label) for code in touched])
    if parsed.kind == "guidelines":
        _sync_guidelines(uow, parsed.guidelines, v.id)
    if audit:
        record_audit(uow, actor=actor, action="referential.import", entity="referential_version", entity_id=v.id,
                     detail={"system": parsed.system, "version": version, "source": parsed.source[:200],
                             "added": len(d.added), "retired": len(d.retired), "relabelled": len(d.relabelled)})
    return ImportReport(parsed.system, parsed.kind, version, effective, parsed.source,
                        "nouveau" if first else "mis_a_jour", len(incoming), d, v.id)


def _sync_guidelines(uow: UnitOfWork, guidelines: Sequence[ref.Guideline], version_id: str) -> None:
    s = uow.session
    rows = {(g.name, g.version): g for g in s.scalars(select(m.RegionalGuideline))}
    keep = set()
    for g in guidelines:
        keep.add((g.name, g.version))
        row = rows.get((g.name, g.version))
        if row is None:
            s.add(m.RegionalGuideline(name=g.name, version=g.version, guideline_date=g.date, organ=g.organ,
                                      url=g.url, active=True, version_id=version_id))
        else:
            row.guideline_date, row.organ, row.url, row.active = g.date, g.organ, g.url, True
            row.version_id = version_id
    for key, row in rows.items():
        if key not in keep and row.active:
            row.active = False
            row.version_id = version_id


def import_referentials(uow: UnitOfWork, parsed: Sequence[ref.ParsedReferential], *, actor: str,
                        today: date, version: str | None = None, effective_date: date | None = None,
                        audit: bool = True) -> list[ImportReport]:
    """Import parsed source files as new versions, all in one transaction (all or nothing). `audit` False only
    for the package's baseline (part of the installed software, loaded by `dcc db upgrade`; its versions
    still record who loaded them and when)."""
    if version is not None and not version.strip():
        raise ValidationFailed("Le numéro de version ne peut pas être vide.", field="version")
    uow.begin_write()
    reports = [_apply(uow, p, actor=actor, effective=effective_date or p.effective_date or today,
                      version=(version or p.version)[:60], audit=audit) for p in parsed]
    uow.commit()
    return reports


@dataclass(frozen=True)
class RefreshSummary:
    reports: list[ImportReport]
    errors: list[str]  # French, one per file refused (the other files are imported)


def refresh_folder(db_uow: Callable[[], UnitOfWork], folder: Path, *, actor: str, today: date) -> RefreshSummary:
    """Import every referential file of `folder` not imported yet, one transaction per file (a bad file is
    reported and leaves the others in). Files already imported are recognised by their checksum."""
    from dcc.adapters.referentials.readers import read_file

    if not folder.is_dir():
        raise ValidationFailed(f"Le dossier des référentiels « {folder} » n'existe pas.", field="referentials_dir")
    reports: list[ImportReport] = []
    errors: list[str] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        try:
            parsed = read_file(path)
            if parsed is None:
                continue
            with db_uow() as uow:
                reports += import_referentials(uow, [parsed], actor=actor, today=today)
        except DccError as exc:
            errors.append(exc.message)
    return RefreshSummary(reports, errors)


def load_baseline(uow: UnitOfWork, *, actor: str = "dcc", today: date) -> list[ImportReport]:
    """The package's value sets (dcc/data/valuesets.json) as the first version of each value set that has none
    in the database (idempotent: a value set already imported is left as is)."""
    raw = resources.files("dcc.data").joinpath("valuesets.json").read_bytes()
    data: dict[str, dict[str, Any]] = json.loads(raw)
    present = set(uow.session.scalars(select(m.ReferentialVersion.system).distinct()))
    parsed = []
    for name, vs in sorted(data.items()):
        if name in present:
            continue
        body = json.dumps(vs, sort_keys=True, ensure_ascii=False).encode()
        revision = str(vs.get("revisionDate") or "")
        parsed.append(ref.ParsedReferential(
            system=name, kind="value_set", oid=str(vs.get("oid") or ""), title=str(vs.get("displayName") or name),
            version=revision or "base", effective_date=date.fromisoformat(revision[:10]) if revision else None,
            source=BASELINE_SOURCE, checksum=hashlib.sha256(body).hexdigest(),
            concepts=tuple(ref.Concept(code=c["code"], label=c.get("displayName") or "",
                                       code_system=c.get("codeSystem") or "") for c in vs["concepts"]),
        ))
    if not parsed:
        return []
    return import_referentials(uow, parsed, actor=actor, today=today, audit=False)


# ------------------------------------------------------------------ versions in force


def _version_view(v: m.ReferentialVersion) -> VersionView:
    return VersionView(system=v.system, kind=v.kind, title=v.title, oid=v.oid, version=v.version,
                       effective_date=v.effective_date, source=v.source, concept_count=v.concept_count,
                       imported_at=v.imported_at, imported_by=v.imported_by, diff=dict(v.diff or {}))


def versions_in_force(uow: UnitOfWork) -> list[VersionView]:
    """Per referential, the version in force: the last one imported (its codes are the active ones)."""
    last = (select(m.ReferentialVersion.system, func.max(m.ReferentialVersion.imported_at).label("at"))
            .group_by(m.ReferentialVersion.system).subquery())
    rows = uow.session.scalars(
        select(m.ReferentialVersion).join(last, (last.c.system == m.ReferentialVersion.system)
                                          & (last.c.at == m.ReferentialVersion.imported_at))
        .order_by(m.ReferentialVersion.system))
    seen: dict[str, VersionView] = {}
    for v in rows:
        seen.setdefault(v.system, _version_view(v))
    return list(seen.values())


def version_history(uow: UnitOfWork, system: str) -> list[VersionView]:
    _require_system(uow, system)
    return [_version_view(v) for v in uow.session.scalars(
        select(m.ReferentialVersion).where(m.ReferentialVersion.system == system)
        .order_by(m.ReferentialVersion.imported_at.desc()))]


def _require_system(uow: UnitOfWork, system: str) -> None:
    if len(system) > 80 or not system.isprintable() or uow.session.scalar(
            select(m.ReferentialVersion.id).where(m.ReferentialVersion.system == system).limit(1)) is None:
        raise NotFound(f"Référentiel inconnu : « {system[:80]} ». Consultez la liste des référentiels en vigueur "
                       "(GET /api/v1/referentials).", field="system")


# ------------------------------------------------------------------ search


def search(uow: UnitOfWork, system: str, q: str, *, limit: int = 20) -> list[SearchHit]:
    """Active codes of `system` whose code or label words start with every word of `q` (accents, case and
    punctuation ignored), best first: a code match before a label match, an exact word before a prefix, the
    label's first word before another one, then the shorter label, then the first imported."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(f"Le nombre de résultats doit être entre 1 et {MAX_LIMIT}.", field="limit")
    words = ref.tokens(q)[:6]
    if sum(len(w) for w in words) < MIN_QUERY:
        raise ValidationFailed(f"Saisissez au moins {MIN_QUERY} lettres ou chiffres pour rechercher.", field="q")
    p, t, c = m.ReferentialPrefix, m.ReferentialToken, m.ReferentialConcept

    # The prefix table has one row per concept and prefix of its tokens, with the concept's rank for that
    # prefix (`_prefixes`); its key (system, prefix, penalty, label_len, concept_id) gives a word's concepts
    # best first, so a one-word query reads `limit` rows whatever the number of concepts it matches.
    # With several words, some words are "listed" (their prefix rows read, and grouped by concept when more
    # than one: a concept matching them all has one row per word) and the others are "probed" on each
    # candidate's own tokens (index (concept_id, token, weight), a range of the token column: C collation on
    # PostgreSQL, BINARY on SQLite, so that the range is exactly "starts with"). Which words are listed
    # changes the plan, never the hits nor their order (tests/services/test_referential_search.py):
    # - SQLite (nested loops over indexes, no hash join): one listed word, the one matching the fewest
    #   concepts (counted up to DRIVER_CAP in a first statement);
    # - PostgreSQL (a hash aggregate reads thousands of index entries in a few milliseconds, while each probe
    #   is an index descent, many times the cost of a listed entry): every word is listed, but a word of one
    #   character (which may match every concept: "d" of "de", "du") when the other words leave fewer than
    #   PROBE_CAP candidates (counted up to PROBE_CAP, a first statement, only for such queries).
    if len(words) == 1:
        listed, probed = words, []
    elif uow.session.get_bind().dialect.name == "postgresql":
        listed = [w for w in words if len(w) > 1] or words
        probed = [w for w in words if w not in listed]
        if probed and min(_counts(uow, system, listed, PROBE_CAP)) >= PROBE_CAP:
            listed, probed = words, []
    else:
        counts = _counts(uow, system, words, DRIVER_CAP)
        ordered = [w for _, _, w in sorted(zip(counts, (-len(w) for w in words), words, strict=True))]
        listed, probed = ordered[:1], ordered[1:]
    if len(listed) == 1:
        cand: Any = select(p.concept_id, p.label_len, p.penalty).where(p.system == system, p.prefix == listed[0])
    else:
        cand = (select(p.concept_id, func.min(p.label_len).label("label_len"), func.sum(p.penalty).label("penalty"))
                .where(p.system == system, p.prefix.in_(listed)).group_by(p.concept_id)
                .having(func.count() == len(listed)))
    if probed:
        g = cand.subquery()
        penalty: Any = g.c.penalty
        cand = select(g.c.concept_id, g.c.label_len)
        for word in probed:
            other = aliased(t)
            cand = cand.join(other, (other.concept_id == g.c.concept_id) & (other.token >= word)
                             & (other.token < _successor(word)))
            penalty = penalty + func.min(40 - other.weight * 10 - sql_case((other.token == word, 5), else_=0))
        cand = cand.add_columns(penalty.label("penalty")).group_by(g.c.concept_id, g.c.label_len, g.c.penalty)
    ranked = cand.subquery()
    top = select(ranked).order_by(ranked.c.penalty, ranked.c.label_len, ranked.c.concept_id).limit(limit).subquery()
    rows = uow.session.execute(
        select(c.code, c.label, c.code_system, c.attributes, top.c.penalty)
        .join(top, top.c.concept_id == c.id).order_by(top.c.penalty, top.c.label_len, top.c.concept_id)).all()
    if not rows:
        _require_system(uow, system)  # an unknown system is an error, a known one without hits is not
        return []
    return [SearchHit(code=r.code, label=r.label, code_system=r.code_system, score=40 * len(words) - int(r.penalty),
                      attributes=dict(r.attributes or {})) for r in rows]


def _counts(uow: UnitOfWork, system: str, words: Sequence[str], cap: int) -> list[int]:
    """How many concepts each word matches, up to `cap`, in one statement."""
    p = m.ReferentialPrefix
    return list(uow.session.execute(select(*(
        select(func.count()).select_from(select(p.concept_id).where(p.system == system, p.prefix == word)
                                          .limit(cap).subquery()).scalar_subquery()
        for word in words))).one())


def _successor(word: str) -> str:
    """The first string after every string starting with `word` (in code point order)."""
    return word[:-1] + chr(ord(word[-1]) + 1)


# ------------------------------------------------------------------ retired codes


def _retired(uow: UnitOfWork) -> dict[str, set[str]]:
    systems = [s for s, _ in CHECKED_FIELDS.values()]
    out: dict[str, set[str]] = {s: set() for s in systems}
    for system, code in uow.session.execute(
            select(m.ReferentialConcept.system, m.ReferentialConcept.code)
            .where(m.ReferentialConcept.system.in_(systems), m.ReferentialConcept.active.is_(False))):
        out[system].add(code)
    return out


def retired_code_flags(uow: UnitOfWork, *, board_ids: Collection[str] | None = None) -> list[RetiredFlag]:
    """Cases not yet discussed and unsigned documents whose codes a later referential version retired: the
    coordinator corrects the case (and the document is generated again) before it goes further."""
    retired = _retired(uow)
    # drugs and acts of the decisions under unsigned Fiches RCP (dcc.services.proposal_entries)
    entry_flags = [RetiredFlag("document", *row)
                   for row in proposal_entries.retired_in_drafts(uow, board_ids=board_ids)]
    if not any(retired.values()):
        return entry_flags
    s = uow.session
    flags: list[RetiredFlag] = []
    topo_sys, topo_label = CHECKED_FIELDS["topography_code"]
    morph_sys, morph_label = CHECKED_FIELDS["morphology_code"]
    prop_sys, prop_label = CHECKED_FIELDS["proposal_codes"]
    scope = [] if board_ids is None else [m.Case.board_id.in_(list(board_ids))]

    def case_codes(case: m.Case) -> list[tuple[str, str, str]]:
        out = []
        if case.topography_code in retired[topo_sys]:
            out.append((topo_label, case.topography_code, topo_sys))
        if case.morphology_code and case.morphology_code in retired[morph_sys]:
            out.append((morph_label, case.morphology_code, morph_sys))
        return out

    open_cases = s.scalars(select(m.Case).where(
        m.Case.status.in_([CaseStatus.PENDING.value, CaseStatus.ASSIGNED.value]),
        (m.Case.topography_code.in_(retired[topo_sys]) | m.Case.morphology_code.in_(retired[morph_sys])),
        *scope).order_by(m.Case.created_at))
    for case in open_cases:
        flags.extend(RetiredFlag("case", case.id, case.id, case.board_id, f, code, system)
                     for f, code, system in case_codes(case))
    drafts = s.execute(select(m.Document.id, m.Case, m.Decision.proposal_codes)
                       .join(m.Case, m.Case.id == m.Document.case_id)
                       .outerjoin(m.Decision, m.Decision.case_id == m.Case.id)
                       .where(m.Document.status == DocumentStatus.DRAFT.value, *scope)
                       .order_by(m.Document.created_at)).all()
    for doc_id, case, proposals in drafts:
        found = case_codes(case) + [(prop_label, code, prop_sys) for code in (proposals or [])
                                    if code in retired[prop_sys]]
        flags.extend(RetiredFlag("document", doc_id, case.id, case.board_id, f, code, system)
                     for f, code, system in found)
    return flags + entry_flags


def count_retired_code_flags(uow: UnitOfWork, *, board_ids: Collection[str] | None = None) -> int:
    """How many flags the coordinator's view shows (one per case or document and field)."""
    return len(retired_code_flags(uow, board_ids=board_ids))


# ------------------------------------------------------------------ regional guidelines


def list_guidelines(uow: UnitOfWork, organ: str | None = None) -> list[GuidelineView]:
    """Guidelines in force the decision form offers: those of `organ` (a JDV_RCP_Organe_CISIS code) and those
    for any organ; every guideline when `organ` is None. Newest first."""
    g = m.RegionalGuideline
    stmt = select(g).where(g.active.is_(True))
    if organ is not None:
        stmt = stmt.where(g.organ.in_([organ, ""]))
    return [GuidelineView(name=r.name, version=r.version, date=r.guideline_date, organ=r.organ, url=r.url)
            for r in uow.session.scalars(stmt.order_by(g.name, g.guideline_date.desc(), g.version))]


def guidelines_for_case(uow: UnitOfWork, case_id: str) -> list[GuidelineView]:
    """The guidelines the decision form offers for a case: those of its board's organ (or organ group) and
    those for any organ; every guideline in force for a board without an organ (transversal boards)."""
    row = uow.session.execute(select(m.Board.organe_code, m.Board.appareil_code)
                              .join(m.Case, m.Case.board_id == m.Board.id).where(m.Case.id == case_id)).first()
    organ = (row[0] or row[1]) if row is not None else None
    return list_guidelines(uow, organ=organ or None)
