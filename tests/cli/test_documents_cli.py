"""`dcc documents verify` and `dcc documents audit-store` on documents signed by the real chain (SQLite)."""

from __future__ import annotations

import io
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from sqlalchemy import select
from typer.testing import CliRunner

from dcc.adapters.db import models as m
from dcc.adapters.rendering import PdfRenderer
from dcc.adapters.signing.pki import init_demo_pki
from dcc.bootstrap import DemoSignerDirectory, cda_builder, migrate, pdf_renderer
from dcc.cli.documents import app
from dcc.config import get_settings
from dcc.services import boards as board_services
from dcc.services import demo as demo_services
from dcc.services.documents import generate_documents, sign_documents
from dcc.services.seed import seed_directory, seed_patients
from dcc.services.uow import Database

runner = CliRunner()
TODAY = date(2025, 3, 3)


@dataclass(frozen=True)
class Signed:
    db_path: Path
    pki_dir: Path
    pdf: Path  # a signed demo document
    unique_id: str


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Signed]:
    root = tmp_path_factory.mktemp("documents-cli")
    db_path, pki_dir = root / "dcc.sqlite3", root / "pki"
    migrate(f"sqlite:///{db_path}")
    db = Database(f"sqlite:///{db_path}")
    with db.uow() as uow:
        seeded = seed_directory(uow, seed=3, regions=1)
        patient_ids = seed_patients(uow, seed=3, count=2, region_codes=seeded.regions)
        uow.commit()
    with db.uow() as uow:
        board_services.plan_sessions(uow, today=TODAY)
    demo_services.register_demo_cases(db, patient_ids=patient_ids, seed=3, today=TODAY)
    with db.uow() as uow:
        board_services.assign_cases(uow, today=TODAY)
    meeting = demo_services.hold_meetings(db, seed=3, today=TODAY, quorum_failure_rate=0.0)
    with db.uow() as uow:
        created = generate_documents(uow, case_ids=meeting.decided_cases, cda=cda_builder(),
                                     pdf=pdf_renderer()).created
    assert created
    with db.uow() as uow:
        docs = [(d.id, d.signer_id) for d in uow.session.scalars(select(m.Document))]
    for doc_id, signer_id in docs:
        with db.uow() as uow:
            sign_documents(uow, document_ids=[doc_id], signer_professional_id=signer_id, cda=cda_builder(),
                           signers=DemoSignerDirectory(pki_dir))
    with db.uow() as uow:
        doc = uow.session.get(m.Document, docs[0][0])
        assert doc is not None and doc.status == "signed"
        pdf, unique_id = root / "fiche.pdf", doc.unique_id
        pdf.write_bytes(doc.pdf)
    db.dispose()
    yield Signed(db_path=db_path, pki_dir=pki_dir, pdf=pdf, unique_id=unique_id)


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """Fresh settings for each test (get_settings is cached)."""
    monkeypatch.setenv("DCC_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def verify(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["verify", *args])
    return result.exit_code, result.output


# ---------------------------------------------------------------- verify


def test_verify_ok_with_the_default_demo_ca(signed: Signed, settings_env: pytest.MonkeyPatch) -> None:
    settings_env.setenv("DCC_PKI_DIR", str(signed.pki_dir))
    code, out = verify(str(signed.pdf))
    assert code == 0, out
    assert "Signataire : " in out and "(identifiant 8" in out
    assert "Date de signature : " in out
    assert "Intégrité : intacte" in out
    assert "Chaîne de certification : valide" in out
    assert "Couverture : fichier entier" in out
    assert "Verdict : OK" in out
    code, out = verify(str(signed.pdf), "--trust-root", str(signed.pki_dir / "ca.pem"))
    assert code == 0, out


def test_verify_fails_on_a_flipped_byte(signed: Signed, tmp_path: Path) -> None:
    data = bytearray(signed.pdf.read_bytes())
    data[len(data) // 3] ^= 0x01
    bad = tmp_path / "flipped.pdf"
    bad.write_bytes(bytes(data))
    code, out = verify(str(bad), "--trust-root", str(signed.pki_dir / "ca.pem"))
    assert code == 1, out
    assert "Verdict : ÉCHEC" in out


def test_verify_fails_on_an_appended_update(signed: Signed, tmp_path: Path) -> None:
    writer = IncrementalPdfFileWriter(io.BytesIO(signed.pdf.read_bytes()), strict=False)
    writer.root["/DccNote"] = generic.TextStringObject("ajout après signature")
    writer.update_root()
    buf = io.BytesIO()
    writer.write(buf)
    bad = tmp_path / "appended.pdf"
    bad.write_bytes(buf.getvalue())
    code, out = verify(str(bad), "--trust-root", str(signed.pki_dir / "ca.pem"))
    assert code == 1, out
    assert "Couverture : PARTIELLE" in out and "complété après la signature" in out


def test_verify_fails_with_an_untrusted_ca_or_a_revoked_certificate(signed: Signed, tmp_path: Path) -> None:
    other = init_demo_pki(tmp_path / "other", [], ca_name="Autre AC")
    code, out = verify(str(signed.pdf), "--trust-root", str(other.ca_path))
    assert code == 1, out
    assert "Chaîne de certification : non reconnue" in out
    copy = tmp_path / "revoked-pki"
    shutil.copytree(signed.pki_dir, copy)
    pki = init_demo_pki(copy, [])
    for cert in copy.glob("8*.pem"):
        pki.revoke(x509.load_pem_x509_certificate(cert.read_bytes()).serial_number)
    code, out = verify(str(signed.pdf), "--trust-root", str(copy / "ca.pem"))
    assert code == 1, out
    assert "révoqué" in out


def test_verify_fails_on_a_signature_by_an_expired_certificate(signed: Signed, tmp_path: Path) -> None:
    from pyhanko.sign import signers

    from dcc.adapters.signing.pades import sign_pades, stamp_font

    copy = tmp_path / "pki"
    shutil.copytree(signed.pki_dir, copy)
    now = datetime.now(UTC)
    cred = init_demo_pki(copy, []).issue("Claire Martin", "810000000099", not_before=now - timedelta(days=400),
                                         not_after=now - timedelta(days=1), filename="expired", register=False)
    unsigned = PdfRenderer(variant="pdf/a-1b").html_to_pdf(
        '<html lang="fr"><head><title>t</title></head><body><p>Fiche RCP</p></body></html>')
    # Signed by another tool that does not check the certificate's validity period (dcc refuses to).
    key = signers.SimpleSigner.load_pkcs12(str(cred.p12_path), passphrase=cred.passphrase.encode())
    bad = tmp_path / "expired.pdf"
    bad.write_bytes(sign_pades(unsigned, key, signer_name="Dr Claire MARTIN", reason="r", location="l",
                               font=stamp_font(), at=now))
    code, out = verify(str(bad), "--trust-root", str(copy / "ca.pem"))
    assert code == 1, out
    assert "Intégrité : intacte" in out and "expiré" in out


def test_verify_unsigned_and_missing_trust_root(signed: Signed, settings_env: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    plain = tmp_path / "plain.pdf"
    plain.write_bytes(PdfRenderer(variant="pdf/a-1b").html_to_pdf(
        '<html lang="fr"><head><title>t</title></head><body><p>Sans signature</p></body></html>'))
    code, out = verify(str(plain), "--trust-root", str(signed.pki_dir / "ca.pem"))
    assert code == 1 and "Signature : aucune" in out, out
    settings_env.setenv("DCC_PKI_DIR", str(tmp_path / "no-pki"))
    code, out = verify(str(signed.pdf))
    assert code == 2, out


# ---------------------------------------------------------------- audit-store


def test_audit_store_ok_then_mismatch(signed: Signed, settings_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    db_path = tmp_path / "copy.sqlite3"
    shutil.copy(signed.db_path, db_path)
    settings_env.setenv("DCC_DATABASE_URL", f"sqlite:///{db_path}")
    result = runner.invoke(app, ["audit-store"])
    assert result.exit_code == 0, result.output
    assert "Empreintes conformes" in result.output

    conn = sqlite3.connect(db_path)  # tamper with a signed document behind the trigger's back
    try:
        conn.execute("DROP TRIGGER document_immutable_update")
        (cda,) = conn.execute("SELECT cda FROM document WHERE unique_id = ?", (signed.unique_id,)).fetchone()
        conn.execute("UPDATE document SET cda = ? WHERE unique_id = ?", (bytes(cda) + b" ", signed.unique_id))
        conn.commit()
    finally:
        conn.close()
    result = runner.invoke(app, ["audit-store"])
    assert result.exit_code == 1, result.output
    assert f"{signed.unique_id} (" in result.output and "SHA-256 du CDA ne correspond pas" in result.output


# ---------------------------------------------------------------- drain


def test_drain_closes_the_rows_of_cases_that_already_have_their_documents(
        signed: Signed, settings_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The fixture generated the documents directly, leaving the validation's rows pending: `dcc documents
    drain` closes them without a second document; a second drain has nothing to do."""
    db_path = tmp_path / "copy.sqlite3"
    shutil.copy(signed.db_path, db_path)
    settings_env.setenv("DCC_DATABASE_URL", f"sqlite:///{db_path}")
    conn = sqlite3.connect(db_path)
    try:
        due = conn.execute("SELECT count(*) FROM generation_task WHERE state = 'pending'").fetchone()[0]
        documents = conn.execute("SELECT count(*) FROM document").fetchone()[0]
    finally:
        conn.close()
    assert due > 0
    result = runner.invoke(app, ["drain"])
    assert result.exit_code == 0, result.output
    assert f"Dossiers générés : 0 ; déjà générés : {due} ; nouvel essai prévu : 0 ; lettres mortes : 0" \
        in result.output
    result = runner.invoke(app, ["drain"])
    assert result.exit_code == 0 and "déjà générés : 0" in result.output, result.output
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("SELECT count(*) FROM document").fetchone()[0] == documents
        assert conn.execute("SELECT DISTINCT state FROM generation_task").fetchall() == [("done",)]
    finally:
        conn.close()
