"""Document generation: batches of cases per task (a task per document would cost more than rendering)."""

from __future__ import annotations

from prefect import flow, task

from dcc.bootstrap import cda_builder, database, pdf_renderer
from dcc.services.documents import generate_documents as generate_service

BATCH = 25


@task
def generate_batch(case_ids: list[str]) -> dict[str, object]:
    with database().uow() as uow:
        result = generate_service(uow, case_ids=case_ids, cda=cda_builder(), pdf=pdf_renderer())
    return {"created": result.created, "refused": result.refused}


@flow(name="generate_documents")
def generate_documents(case_ids: list[str]) -> dict[str, object]:
    created: list[str] = []
    refused: dict[str, str] = {}
    for i in range(0, len(case_ids), BATCH):
        out = generate_batch(case_ids[i:i + BATCH])
        created.extend(out["created"])  # type: ignore[arg-type]
        refused.update(out["refused"])  # type: ignore[arg-type]
    return {"created": created, "refused": refused}
