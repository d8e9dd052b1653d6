"""Referential search: the hits and their order equal a brute-force ranking written here from the rule (a word
scores, on a concept, the best of its tokens starting with it: 30 the code, 20 the label's first word, 10
another word, + 5 when the token is the word itself; then the shorter label, then the first imported), on
SQLite and PostgreSQL and whichever words the query plan lists or probes; both databases give the same
answers; after an update (relabelled, retired, added codes) the prefix rows are exactly those of the active
concepts (the bulk import and the deletion by full key leave no stale row)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from functools import cache

import pytest
from sqlalchemy import select

from dcc.adapters.db import models as m
from dcc.bench.referentials import QUERIES, SYSTEM, corpus, keystrokes
from dcc.domain import referentials as ref
from dcc.services import referentials as svc
from dcc.services.uow import Database
from tests.conftest import reset_postgresql

TODAY = date(2025, 3, 1)
EXTRA = ["c5", "C50.9", "c509", "TUMEUR Maligne", "oesophage", "œsophage", "tumeur d", "hémorragie d",
         "carcinome in s", "de l", "d e", "sein gauche tumeur", "kyste x", "zz", "du du sein", "a b c d e f g"]
TYPED = sorted({k for q in QUERIES for k in keystrokes(q)} | set(EXTRA))


def import_corpus(db: Database, parsed: ref.ParsedReferential) -> None:
    with db.uow() as uow:
        svc.import_referentials(uow, [parsed], actor="test", today=TODAY)


def active_concepts(db: Database) -> list[tuple[int, str, str]]:
    c = m.ReferentialConcept
    with db.uow() as uow:
        return [tuple(r) for r in uow.session.execute(  # type: ignore[misc]
            select(c.id, c.code, c.label).where(c.system == SYSTEM, c.active.is_(True)))]


@cache
def concept_tokens(code: str, label: str) -> list[tuple[str, int]]:
    out: dict[str, int] = {}
    code_token = "".join(ref.tokens(code))
    if code_token:
        out[code_token] = 3
    for i, tok in enumerate(ref.tokens(label)):
        out.setdefault(tok, 2 if i == 0 else 1)
    return list(out.items())


def expected(concepts: list[tuple[int, str, str]], q: str, limit: int = 20) -> list[tuple[str, int]]:
    words = ref.tokens(q)[:6]
    ranked = []
    for cid, code, label in concepts:
        toks = concept_tokens(code, label)
        scores = [max((w * 10 + (5 if t == word else 0) for t, w in toks if t.startswith(word)), default=None)
                  for word in words]
        if all(s is not None for s in scores):
            ranked.append((-sum(scores), len(label), cid, code))  # type: ignore[arg-type]
    return [(code, -neg) for neg, _, _, code in sorted(ranked)[:limit]]


def found(db: Database, q: str) -> list[tuple[str, int]]:
    with db.uow() as uow:
        return [(h.code, h.score) for h in svc.search(uow, SYSTEM, q)]


@pytest.mark.parametrize("caps", [(300, 2000), (1, 1), (10**6, 10**6)], ids=["default", "low-caps", "high-caps"])
def test_search_equals_brute_force_ranking(database: Database, caps: tuple[int, int],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # the caps choose which words are listed and which probed (SQLite: the driver; PostgreSQL: one-letter words)
    monkeypatch.setattr(svc, "DRIVER_CAP", caps[0])
    monkeypatch.setattr(svc, "PROBE_CAP", caps[1])
    import_corpus(database, corpus(1000))
    concepts = active_concepts(database)
    assert len(concepts) == 1000
    with_hits = 0
    for q in TYPED:
        want = expected(concepts, q)
        assert found(database, q) == want, q
        with_hits += bool(want)
    assert with_hits > len(TYPED) * 3 // 4  # the queries do exercise the ranking


def test_sqlite_and_postgresql_give_the_same_hits(sqlite_database: Database, pg_database_url: str) -> None:
    pg = Database(pg_database_url)
    try:
        reset_postgresql(pg)
        parsed = corpus(1000, seed=7)
        for db in (sqlite_database, pg):
            import_corpus(db, parsed)
        differ = [q for q in TYPED if found(sqlite_database, q) != found(pg, q)]
        assert differ == []
        assert sum(bool(found(pg, q)) for q in TYPED) > len(TYPED) * 3 // 4
    finally:
        reset_postgresql(pg)
        pg.dispose()


def test_update_leaves_exactly_the_active_concepts_prefixes(database: Database) -> None:
    v1 = corpus(400)
    concepts = list(v1.concepts)
    relabelled = {concepts[i].code for i in range(0, 400, 7)}
    retired = {concepts[i].code for i in range(3, 400, 11)} - relabelled
    v2_concepts = [replace(c, label=f"Xénopathie particulière {c.label}") if c.code in relabelled else c
                   for c in concepts if c.code not in retired]
    v2_concepts.append(ref.Concept(code="Z99.9", label="Séquelle rarissime", code_system="2.16.840.1.113883.6.3"))
    v2 = replace(v1, version="v2", checksum="0" * 64, concepts=tuple(v2_concepts))
    import_corpus(database, v1)
    with database.uow() as uow:
        report = svc.import_referentials(uow, [v2], actor="test", today=TODAY)[0]
    assert (len(report.diff.added), len(report.diff.retired), len(report.diff.relabelled)) == (
        1, len(retired), len(relabelled))

    want = set()
    for cid, code, label in active_concepts(database):
        for tok, weight in concept_tokens(code, label):
            for i in range(1, len(tok) + 1):
                want.add((tok[:i], cid, 40 - weight * 10 - (5 if i == len(tok) else 0), len(label)))
    best: dict[tuple[str, int], tuple[int, int]] = {}
    for prefix, cid, penalty, label_len in want:
        if (prefix, cid) not in best or penalty < best[(prefix, cid)][0]:
            best[(prefix, cid)] = (penalty, label_len)
    p = m.ReferentialPrefix
    with database.uow() as uow:
        rows = {(r.prefix, r.concept_id): (r.penalty, r.label_len)
                for r in uow.session.execute(select(p.prefix, p.concept_id, p.penalty, p.label_len)
                                             .where(p.system == SYSTEM))}
    assert rows == best
    assert [code for code, _ in found(database, "xénopathie")][:3] and found(database, "rarissime") == [("Z99.9", 15)]
    gone = sorted(retired)[0]
    assert gone not in [code for code, _ in found(database, gone)]
