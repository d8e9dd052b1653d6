"""Acts of a person run as a separate process with the production shape's settings (`python -m
tests.integration.shape_actions sign`): what the signing page does — `sign_documents` per responsible
physician, then the `dcc.documents.signed` event through dcc's orchestration adapter (to the Prefect server of
PREFECT_API_URL). Prints the signed document ids as JSON."""

from __future__ import annotations

import json
import sys


def sign_all() -> list[str]:
    from sqlalchemy import select

    from dcc.adapters.db import models as m
    from dcc.adapters.orchestration import emit_documents_signed
    from dcc.bootstrap import cda_builder, database, signer_directory
    from dcc.config import get_settings
    from dcc.services.documents import sign_documents

    db = database()
    with db.uow() as uow:
        rows = uow.session.execute(select(m.Document.id, m.Document.signer_id)
                                   .where(m.Document.status == "draft").order_by(m.Document.id)).all()
    by_signer: dict[str, list[str]] = {}
    for doc_id, signer_id in rows:
        by_signer.setdefault(signer_id, []).append(doc_id)
    cda, signers = cda_builder(), signer_directory(get_settings())
    signed: list[str] = []
    for signer_id, ids in sorted(by_signer.items()):
        with db.uow() as uow:
            done = sign_documents(uow, document_ids=ids, signer_professional_id=signer_id, cda=cda, signers=signers)
        emit_documents_signed(done)  # after the commit, as the signing page does
        signed += done
    return signed


if __name__ == "__main__":
    if sys.argv[1:] != ["sign"]:
        raise SystemExit("usage: python -m tests.integration.shape_actions sign")
    print(json.dumps(sign_all()))
