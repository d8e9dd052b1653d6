"""Benchmark: PAdES signature and verification cost per document, next to the document pipeline's cost.

`run(n)` builds decided cases for `n` documents (as `dcc.bench.documents`), runs the real document
pipeline on them in this process (warmed-up renderer, `generate_documents`, BATCH cases per unit of
work), then signs every PDF it stored with the demo signer directory's `Pkcs12Signer` (a demo PKI in
a temporary directory: certificate and CRL checked before each signature, as in production) and
verifies every signed PDF offline with `verify_pdf` (trust root and CRL of the demo PKI).

`sign_share_of_pipeline` = sign time per document / pipeline time per document. Figures only.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dcc.bench.documents import BATCH, SEED, build_database

SIGNER_NAME = "Dr Claire MARTIN"
SIGNER_ID_NAT = "810001234567"


def run(n: int = 50, *, variant: str | None = None, seed: int = SEED,
        progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    if n < 1:
        raise ValueError("n must be positive")
    from sqlalchemy import select

    from dcc.adapters.db import models as m
    from dcc.adapters.signing.pades import verify_pdf
    from dcc.bench.documents import _variant, _warm_up
    from dcc.bootstrap import DemoSignerDirectory, cda_builder, pdf_renderer
    from dcc.services.documents import generate_documents
    from dcc.services.uow import Database

    say = progress or (lambda _msg: None)
    variant = _variant(variant)
    with tempfile.TemporaryDirectory(prefix="dcc-bench-signing-") as tmp_s:
        tmp = Path(tmp_s)
        say(f"building a database with decided cases for {n} documents")
        case_ids = build_database(tmp / "db.sqlite3", n, seed=seed)
        db = Database(f"sqlite:///{tmp / 'db.sqlite3'}")
        cda, pdf = cda_builder(), pdf_renderer(variant)
        _warm_up(pdf._renderer)

        say("document pipeline")
        now = datetime.now(UTC)
        t0 = time.perf_counter()
        for i in range(0, len(case_ids), BATCH):
            with db.uow() as uow:
                generate_documents(uow, case_ids=case_ids[i:i + BATCH], cda=cda, pdf=pdf, now=now)
        pipeline_s = time.perf_counter() - t0
        with db.uow() as uow:
            pdfs = list(uow.session.scalars(select(m.Document.pdf).order_by(m.Document.unique_id)).all())
        db.dispose()

        say("signing")
        directory = DemoSignerDirectory(tmp / "pki")
        t0 = time.perf_counter()
        signer = directory.signer_for(id_nat=SIGNER_ID_NAT, name=SIGNER_NAME)  # once per signed batch
        signer_setup_s = time.perf_counter() - t0
        kw = {"signer_name": SIGNER_NAME, "reason": "Validation de la proposition de la RCP",
              "location": "Angers"}
        signer.sign(pdfs[0], **kw)  # warm-up (fonts, ASN.1 modules)
        t0 = time.perf_counter()
        signed = [signer.sign(doc, **kw) for doc in pdfs]
        sign_s = time.perf_counter() - t0

        say("verification")
        roots = [tmp / "pki" / "ca.pem"]
        verify_pdf(signed[0], trust_roots=roots)  # warm-up
        t0 = time.perf_counter()
        results = [verify_pdf(doc, trust_roots=roots) for doc in signed]
        verify_s = time.perf_counter() - t0

    docs = len(pdfs)
    pipeline_ms, sign_ms, verify_ms = (1000 * s / docs for s in (pipeline_s, sign_s, verify_s))
    return {
        "n": docs,
        "sign_ms_per_doc": round(sign_ms, 1),
        "verify_ms_per_doc": round(verify_ms, 1),
        "pipeline_ms_per_doc": round(pipeline_ms, 1),
        "sign_share_of_pipeline": round(sign_ms / pipeline_ms, 3),
        "verified_ok": sum(r.ok for r in results),
        "signer_setup_ms": round(1000 * signer_setup_s, 1),
        "pdf_kb_avg": round(sum(len(p) for p in pdfs) / docs / 1024, 1),
        "signed_pdf_kb_avg": round(sum(len(p) for p in signed) / docs / 1024, 1),
        "variant": variant,
    }


__all__ = ["run"]
