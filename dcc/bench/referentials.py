"""Benchmark: referential search (`GET /api/v1/referentials/{system}/search`) over a CIM-10-sized corpus.

The agency kit's CIM-10 (`terminologie/2.16.840.1.113883.6.3.rdf`) holds about 19,000 codes and no labels,
so the corpus is synthetic: ~40,000 CIM-10-shaped codes (letter, two digits, dot, digits) with French labels
built from an oncology and general-medicine vocabulary (accents, ligatures, shared first words: the hard
case for prefix search). It is imported through the service (one version), then a fixed list of queries as
typed keystroke by keystroke ("tu", "tum", "tume"... "c5", "c50", "c50.9") runs in process through
`dcc.services.referentials.search`, and the latencies are reported: p50, p95, p99 and max over every query of
every round, the same over each query's best round (on a loaded machine the former mostly measure the wait for
a CPU), this process's CPU time, the load average, the slowest queries; on PostgreSQL and SQLite, with the
ratios PostgreSQL / SQLite. The import is timed twice on the same schema (`import_before_s`: the search rows
written through SQLAlchemy's executemany of dicts, as before the bulk path; `import_s`: COPY on PostgreSQL,
the driver's executemany on SQLite). Figures, no threshold.
"""

from __future__ import annotations

import hashlib
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from dcc.domain.referentials import Concept, ParsedReferential

SYSTEM = "CIM-10-synthetique"

HEADS = ["Tumeur maligne", "Tumeur bénigne", "Tumeur à évolution imprévisible", "Carcinome in situ",
         "Adénocarcinome", "Lymphome", "Mélanome malin", "Sarcome", "Infection", "Inflammation", "Lésion",
         "Fracture", "Malformation congénitale", "Hémorragie", "Kyste", "Ulcère", "Séquelles", "Dysplasie",
         "Hyperplasie", "Nécrose", "Abcès", "Insuffisance", "Atteinte", "Œdème", "Sténose"]
SITES = ["du sein", "du poumon", "des bronches", "de l'œsophage", "de l'estomac", "du côlon", "du rectum",
         "du foie", "du pancréas", "de la prostate", "de la vessie", "du rein", "de l'utérus", "de l'ovaire",
         "du col de l'utérus", "de la thyroïde", "du cerveau", "de l'encéphale", "de la moelle épinière",
         "de la peau", "des os", "du larynx", "du pharynx", "de la cavité buccale", "du testicule",
         "des ganglions lymphatiques", "de la vésicule biliaire", "du péritoine", "de la plèvre", "du médiastin",
         "du cœur", "de l'œil", "de l'oreille", "des glandes salivaires", "du duodénum", "de l'intestin grêle",
         "de l'anus", "de la vulve", "du vagin", "du pénis"]
QUALIFIERS = ["", "sans précision", "lésion à localisations contiguës", "gauche", "droite", "bilatérale",
              "récidivante", "chronique", "aiguë", "secondaire", "primitive", "métastatique", "de l'enfant",
              "de l'adulte", "du sujet âgé", "avec complication", "sans complication", "localisée", "étendue",
              "autre", "non classée ailleurs", "post-opératoire", "héréditaire", "iatrogène", "traumatique",
              "infectieuse", "tumorale", "kystique", "ulcérée", "nécrosante", "hémorragique", "obstructive",
              "perforée", "calcifiée", "pédiatrique", "familiale", "multiple", "unique", "profonde",
              "superficielle"]

QUERIES = ["tumeur maligne du sein", "adénocarcinome prostate", "lymphome ganglions", "mélanome peau",
           "oesophage", "carcinome in situ col", "sarcome os", "fracture", "kyste ovaire gauche", "c50.9",
           "insuffisance rénale", "œdème cerveau", "hémorragie digestive", "thyroide", "seq"]


def keystrokes(query: str) -> list[str]:
    """What a form sends as the user types: every prefix of 2 characters or more."""
    return [query[:i] for i in range(2, len(query) + 1) if query[:i].strip() and query[i - 1] != " "]


def corpus(n: int, seed: int = 1) -> ParsedReferential:
    rng = random.Random(seed)
    labels = [f"{h} {s}" + (f", {q}" if q else "") for h in HEADS for s in SITES for q in QUALIFIERS]
    rng.shuffle(labels)
    concepts: list[Concept] = []
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    i = 0
    while len(concepts) < n:
        base = i // 10
        code = f"{letters[(base // 100) % 26]}{base % 100:02d}.{i % 10}" + ("" if i < 26000 else str(i // 26000))
        concepts.append(Concept(code=code, label=labels[i % len(labels)] + ("" if i < len(labels) else f" ({i})"),
                                code_system="2.16.840.1.113883.6.3"))
        i += 1
    body = "\n".join(f"{c.code}\t{c.label}" for c in concepts).encode()
    return ParsedReferential(system=SYSTEM, kind="terminology", oid="2.16.840.1.113883.6.3",
                             title="CIM-10 (corpus synthétique de banc d'essai)", version=f"bench-{n}-{seed}",
                             effective_date=date(2025, 1, 1), source="dcc bench referentials",
                             checksum=hashlib.sha256(body).hexdigest(), concepts=tuple(concepts))


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _percentiles(values: list[float], prefix: str) -> dict[str, float]:
    return {f"{prefix}p50_ms": round(statistics.median(values), 2), f"{prefix}p95_ms": round(_pct(values, 95), 2),
            f"{prefix}p99_ms": round(_pct(values, 99), 2), f"{prefix}max_ms": round(max(values), 2)}


def _clear(db: Any) -> None:
    """A previous run's corpus on the same database."""
    from sqlalchemy import delete, select

    from dcc.adapters.db import models as m

    with db.uow() as uow:
        ids = select(m.ReferentialConcept.id).where(m.ReferentialConcept.system == SYSTEM)
        uow.session.execute(delete(m.ReferentialPrefix).where(m.ReferentialPrefix.system == SYSTEM))
        uow.session.execute(delete(m.ReferentialToken).where(m.ReferentialToken.concept_id.in_(ids)))
        uow.session.execute(delete(m.ReferentialConcept).where(m.ReferentialConcept.system == SYSTEM))
        uow.session.execute(delete(m.ReferentialVersion).where(m.ReferentialVersion.system == SYSTEM))
        uow.commit()


def _orm_insert(session: Any, table: Any, columns: Any, rows: Any) -> int:
    """The search rows written as before this benchmark's change (0010): SQLAlchemy `insert()` executemany
    of dicts, 20,000 at a time. Used only for the before/after import ratio, on the same schema."""
    from sqlalchemy import insert

    batch: list[dict[str, Any]] = []
    count = 0
    for row in rows:
        batch.append(dict(zip(columns, row, strict=True)))
        if len(batch) >= 20000:
            session.execute(insert(table), batch)
            count, batch = count + len(batch), []
    if batch:
        session.execute(insert(table), batch)
        count += len(batch)
    return count


def _import(db: Any, parsed: ParsedReferential) -> float:
    from dcc.services import referentials as svc

    t0 = time.perf_counter()
    with db.uow() as uow:
        svc.import_referentials(uow, [parsed], actor="bench", today=date(2025, 1, 1))
    return time.perf_counter() - t0


def run_on(url: str, *, n: int = 40000, rounds: int = 3, import_before: bool = True,
           progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    from unittest import mock

    from dcc.adapters.db import models as m
    from dcc.adapters.db.engine import upgrade
    from dcc.services import referentials as svc
    from dcc.services.uow import Database

    say = progress or (lambda _msg: None)
    upgrade(url)
    db = Database(url)
    try:
        _clear(db)
        parsed = corpus(n)
        out: dict[str, Any] = {"backend": db.engine.dialect.name, "codes": n}
        if import_before:
            say(f"import de {n} codes, lignes de recherche écrites comme avant (executemany de SQLAlchemy)")
            with mock.patch.object(svc, "bulk_insert", _orm_insert):
                out["import_before_s"] = round(_import(db, parsed), 2)
            _clear(db)
        say(f"import de {n} codes")
        out["import_s"] = round(_import(db, parsed), 2)
        if import_before:
            out["import_speedup"] = round(out["import_before_s"] / out["import_s"], 1)
        if db.engine.dialect.name == "postgresql":  # what autovacuum does soon after a large import
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE referential_token, referential_prefix, referential_concept")
        with db.uow() as uow:
            out["tokens"] = uow.session.query(m.ReferentialToken).filter(m.ReferentialToken.system == SYSTEM).count()
            out["prefix_rows"] = uow.session.query(m.ReferentialPrefix).filter(
                m.ReferentialPrefix.system == SYSTEM).count()
        typed = [k for q in QUERIES for k in keystrokes(q)]
        say(f"{len(typed)} requêtes × {rounds}")
        latencies: list[float] = []
        cpu: list[float] = []
        best: dict[str, float] = {}
        worst: dict[str, float] = {}
        hits = 0
        with db.uow() as uow:
            for q in typed[:10]:  # warm-up
                svc.search(uow, SYSTEM, q)
            for _ in range(rounds):
                for q in typed:
                    t, c = time.perf_counter(), time.process_time()
                    found = svc.search(uow, SYSTEM, q)
                    cpu.append((time.process_time() - c) * 1000)
                    latencies.append((time.perf_counter() - t) * 1000)
                    best[q] = min(best.get(q, 1e9), latencies[-1])
                    worst[q] = max(worst.get(q, 0.0), latencies[-1])
                    hits += bool(found)
        slowest = sorted(worst.items(), key=lambda kv: -kv[1])[:5]
        return out | {
            "queries": len(latencies), "queries_with_hits": hits, **_percentiles(latencies, ""),
            # per query, the best of the rounds: what the query costs when this process was not preempted
            # (on a loaded machine, the all-rounds figures above mostly measure the wait for a CPU)
            **_percentiles(list(best.values()), "best_of_rounds_"),
            # CPU time of this process (the client side of PostgreSQL: the server's work is not counted)
            **_percentiles(cpu, "cpu_"),
            "slowest": [[q, round(ms, 2)] for q, ms in slowest], "load_average": os.getloadavg()}
    finally:
        db.dispose()


def _ratios(sqlite: dict[str, Any], pg: dict[str, Any]) -> dict[str, float]:
    """PostgreSQL / SQLite, same corpus, same queries, same process."""
    keys = ["p50_ms", "p95_ms", "p99_ms", "best_of_rounds_p50_ms", "best_of_rounds_p95_ms", "import_s"]
    return {k: round(pg[k] / sqlite[k], 2) for k in keys if sqlite.get(k) and pg.get(k)}


def run(*, n: int = 40000, rounds: int = 3, pg_url: str | None = None, import_before: bool = True,
        progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    results: dict[str, Any] = {"corpus": "synthétique (le kit de l'ANS n'a que les codes de la CIM-10, sans "
                               "libellés, ~19 000 codes)", "load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = run_on(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", n=n, rounds=rounds,
                                   import_before=import_before, progress=progress)
    if pg_url:
        results["postgresql"] = run_on(pg_url, n=n, rounds=rounds, import_before=import_before, progress=progress)
        results["postgresql_over_sqlite"] = _ratios(results["sqlite"], results["postgresql"])
    return results
