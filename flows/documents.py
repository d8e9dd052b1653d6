"""Document generation: drain the "documents due" rows that session validations committed (our database
holds the state; leases, retries and dead letters are in dcc.services.generation). Each run publishes a
table artifact: its counts and its failures with their French reasons (ids only, never patient data).

With `DCC_DASK_ADDRESS` set (a Dask scheduler, `tcp://host:8786`), the run claims the due rows itself, in
batches, and fans the batches out to that cluster through prefect-dask's DaskTaskRunner (a subflow): each
Dask worker generates the rows of its batch under the run's lease (same owner: a crashed run's leases are
released as usual). Prefect and Dask schedule; dcc only claims and leases."""

from __future__ import annotations

import os
import uuid
from typing import Any, TypedDict

from prefect import flow, task

from dcc.adapters.orchestration import lease_owner
from dcc.bootstrap import cda_builder, database, pdf_renderer
from dcc.config import get_settings
from dcc.logging import get_logger
from dcc.services import generation
from flows.artifacts import publish_table
from flows.hooks import HOOKS

log = get_logger(__name__)
ARTIFACT_KEY = "generation-documents"
LABELS = {"generated": "dossiers générés", "already": "dossiers déjà générés (rien à refaire)",
          "retried": "échecs, nouvel essai prévu", "dead": "lettres mortes",
          "reclaimed": "baux expirés repris", "lost_leases": "baux perdus", "documents": "documents créés"}


class DrainOutcome(TypedDict):
    counts: dict[str, int]
    failures: dict[str, str]  # case id -> French reason
    created: list[str]  # document ids
    processes: list[int]  # the processes that generated (this run's, or the Dask workers')


def _outcome(result: generation.DrainResult, processes: list[int]) -> DrainOutcome:
    return {"counts": result.counts(), "failures": dict(result.failures), "created": list(result.created),
            "processes": processes}


@task
def drain_task(limit: int, lease_seconds: int, max_attempts: int) -> DrainOutcome:
    policy = generation.GenerationPolicy(max_attempts=max_attempts, lease_s=lease_seconds)
    result = generation.generate_pending_documents(database(), cda=cda_builder(), pdf=pdf_renderer(),
                                                   policy=policy, limit=limit, owner=lease_owner())
    return _outcome(result, [os.getpid()])


class ClaimedOutcome(TypedDict):
    result: generation.DrainResult
    pid: int  # the process that generated the batch (a Dask worker's)


@task
def generate_claimed_task(task_ids: list[str], owner: str, lease_seconds: int,
                          max_attempts: int) -> ClaimedOutcome:
    """One batch of claimed rows, generated where the task runs (a Dask worker: its renderer is made once per
    process, `dcc.bootstrap` caches it)."""
    policy = generation.GenerationPolicy(max_attempts=max_attempts, lease_s=lease_seconds)
    result = generation.generate_claimed(database(), task_ids, owner=owner, cda=cda_builder(), pdf=pdf_renderer(),
                                         policy=policy)
    return {"result": result, "pid": os.getpid()}


DASK_BATCH = 10  # rows per Dask task: a task's own cost (~tens of ms) stays small next to ~10 renderings
DASK_IN_FLIGHT = 8  # batches submitted at once (claimed, leased) before waiting for them


@flow(name="generate_documents_dask")
def fan_out_documents(owner: str, limit: int, lease_seconds: int, max_attempts: int) -> dict[str, Any]:
    """Claim up to `limit` due rows in batches and generate each batch on the Dask cluster (the subflow's task
    runner); returns the merged outcome and the processes that generated."""
    from dcc.domain.clock import now_utc

    db = database()
    policy = generation.GenerationPolicy(max_attempts=max_attempts, lease_s=lease_seconds)
    out = generation.begin_drain(db, policy=policy)
    pids: set[int] = set()
    claimed, batch, in_flight = 0, DASK_BATCH, DASK_IN_FLIGHT
    while claimed < limit:
        futures: list[Any] = []
        while len(futures) < in_flight and claimed < limit:
            ids = generation.claim(db, owner=owner, now=now_utc(), limit=min(batch, limit - claimed), policy=policy)
            if not ids:
                break
            claimed += len(ids)
            futures.append(generate_claimed_task.submit(ids, owner, lease_seconds, max_attempts))
        if not futures:
            break
        for future in futures:
            part = future.result()
            out.merge(part["result"])
            pids.add(part["pid"])
    return {"result": out, "pids": sorted(pids)}


def dask_address() -> str:
    return get_settings().dask_address.strip()


def artifact_rows(outcome: DrainOutcome) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [{"résultat": LABELS.get(k, k), "nombre": n, "dossier": "", "motif": ""}
                                  for k, n in outcome["counts"].items()]
    rows += [{"résultat": "échec", "nombre": 1, "dossier": case_id, "motif": reason}
             for case_id, reason in sorted(outcome["failures"].items())]
    return rows


def publish_artifact(outcome: DrainOutcome) -> str | None:
    """The run's table artifact (versioned under ARTIFACT_KEY); a failure to publish is logged, not raised:
    the documents and the rows are already committed."""
    return publish_table(ARTIFACT_KEY, artifact_rows(outcome), log=log, event="generation.artifact_not_published",
                         description="Génération des documents dus : compteurs et échecs (motifs en français).")


@flow(name="generate_pending_documents", **HOOKS)
def generate_pending_documents(limit: int = 2000, lease_seconds: int = 300, max_attempts: int = 5) -> DrainOutcome:
    """Generate the documents of the due rows (scheduled, and triggered by session validations); on the Dask
    cluster of DCC_DASK_ADDRESS when it is set."""
    address = dask_address()
    if address:
        from prefect_dask import DaskTaskRunner

        owner = lease_owner() or f"generation-{uuid.uuid4().hex[:8]}"
        # prefect-dask's runner is a TaskRunner of its own futures, which Prefect's annotation does not admit
        runner = DaskTaskRunner(address=address)
        fanned = fan_out_documents.with_options(task_runner=runner)(  # type: ignore[arg-type]
            owner, limit, lease_seconds, max_attempts)
        result = fanned["result"]
        outcome = _outcome(result, fanned["pids"])
        log.info("generation.dask", address=address, processes=len(fanned["pids"]))
        publish_artifact(outcome)
        return outcome
    outcome = drain_task(limit, lease_seconds, max_attempts)
    publish_artifact(outcome)
    return outcome
