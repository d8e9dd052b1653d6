"""Document generation: drain the "documents due" rows that session validations committed (our database
holds the state; leases, retries and dead letters are in dcc.services.generation). Each run publishes a
table artifact: its counts and its failures with their French reasons (ids only, never patient data)."""

from __future__ import annotations

from typing import Any, TypedDict

from prefect import flow, task

from dcc.adapters.orchestration import lease_owner
from dcc.bootstrap import cda_builder, database, pdf_renderer
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


@task
def drain_task(limit: int, lease_seconds: int, max_attempts: int) -> DrainOutcome:
    policy = generation.GenerationPolicy(max_attempts=max_attempts, lease_s=lease_seconds)
    result = generation.generate_pending_documents(database(), cda=cda_builder(), pdf=pdf_renderer(),
                                                   policy=policy, limit=limit, owner=lease_owner())
    return {"counts": result.counts(), "failures": dict(result.failures), "created": list(result.created)}


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
def generate_pending_documents(limit: int = 500, lease_seconds: int = 300, max_attempts: int = 5) -> DrainOutcome:
    """Generate the documents of the due rows (scheduled, and triggered by session validations)."""
    outcome = drain_task(limit, lease_seconds, max_attempts)
    publish_artifact(outcome)
    return outcome
