"""Document generation: batches of cases per task (a task per document would cost more than rendering)."""

from __future__ import annotations

from typing import TypedDict

from prefect import flow, task

from dcc.bootstrap import cda_builder, database, pdf_renderer
from dcc.services.documents import generate_documents as generate_service
from flows.hooks import HOOKS

BATCH = 25


class GenerationOutcome(TypedDict):
    created: list[str]  # document ids
    refused: dict[str, str]  # case id -> French reason


@task
def generate_batch(case_ids: list[str]) -> GenerationOutcome:
    with database().uow() as uow:
        result = generate_service(uow, case_ids=case_ids, cda=cda_builder(), pdf=pdf_renderer())
    return {"created": result.created, "refused": result.refused}


@flow(name="generate_documents", **HOOKS)
def generate_documents(case_ids: list[str]) -> GenerationOutcome:
    """Generate the documents of decided cases, in batches (one task per batch)."""
    outcome: GenerationOutcome = {"created": [], "refused": {}}
    for i in range(0, len(case_ids), BATCH):
        out = generate_batch(case_ids[i:i + BATCH])
        outcome["created"].extend(out["created"])
        outcome["refused"].update(out["refused"])
    return outcome
