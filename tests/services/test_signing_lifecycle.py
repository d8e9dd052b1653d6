"""Signing and document lifecycle on SQLite and PostgreSQL: the whole chain, signature, refusals, corrections."""

from __future__ import annotations

import dataclasses
import hashlib
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from lxml import etree
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from sqlalchemy import select

from dcc.adapters.db import models as m
from dcc.adapters.signing import Pkcs12Signer, verify_pdf
from dcc.adapters.signing.pki import init_demo_pki
from dcc.bootstrap import cda_builder, pdf_renderer
from dcc.domain.ports import PdfSigner, Submission, SubmitOutcome
from dcc.errors import Conflict, DeliveryError, SignatureRefused, UnknownCode, ValidationFailed
from dcc.services import pps as pps_services
from dcc.services.audit import verify_chain
from dcc.services.corrections import CorrectionInput, correct_document, demo_correction
from dcc.services.delivery import RetryPolicy, dispatch_pending
from dcc.services.documents import sign_documents
from dcc.services.pps import PpsItemInput
from tests import pdfsig as pdfsig_tool

NS = {"h": "urn:hl7-org:v3"}
HAS_PDFSIG = pdfsig_tool.available()
Chain = Any  # tests/services/conftest.py:Chain (conftest modules are not importable by name)


def pdfsig(pdf: bytes, tmp_path: Path, ca: Path) -> pdfsig_tool.PdfsigReport:
    """poppler's verdict with full certificate validation (an NSS store trusting `ca`, with its CRL)."""
    nss = tmp_path / "nss"
    if not nss.exists():
        pdfsig_tool.nss_database(nss, trust_roots=[ca])
    return pdfsig_tool.pdfsig(pdf, nss_dir=nss, workdir=tmp_path)


def cda_root(cda: bytes) -> Any:
    return etree.fromstring(cda)


def audit_actions(chain: Chain, entity_id: str) -> list[str]:
    with chain.db.uow() as uow:
        q = select(m.AuditEvent.action).where(m.AuditEvent.entity_id == entity_id).order_by(m.AuditEvent.id)
        return list(uow.session.scalars(q).all())


def appended_update(pdf: bytes) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    info = writer.trailer["/Info"] if "/Info" in writer.trailer else None
    if info is None:
        writer.root["/DccNote"] = generic.TextStringObject("ajout après signature")
        writer.update_root()
    else:
        info = info.get_object()
        info["/Subject"] = generic.TextStringObject("ajout après signature")
        writer.update_container(info)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# ---------------------------------------------------------------- signature


def test_signed_documents_verify_and_tampering_is_detected(signed_chain: Chain, tmp_path: Path) -> None:
    docs = signed_chain.documents()
    assert docs and {d.kind for d in docs} == {"FRCP", "PPS"}
    with signed_chain.db.uow() as uow:
        outbox = {o.document_id: (o.destination, o.state) for o in uow.session.scalars(select(m.OutboxMessage))}
        rpps = {p.id: p.rpps for p in uow.session.scalars(select(m.Professional))}
    for doc in docs:
        assert doc.status == "signed" and doc.signed_at is not None
        assert doc.sha256 == hashlib.sha256(doc.cda).hexdigest()
        assert doc.pdf_sha256 == hashlib.sha256(doc.pdf).hexdigest()
        result = verify_pdf(doc.pdf, trust_roots=[signed_chain.ca])
        assert result.ok, result
        assert result.signer_id_nat == "8" + rpps[doc.signer_id]
        assert result.summary_fr() == f"Signature valide de {result.signer_name}."
        root = cda_root(doc.cda)
        assert root.find("h:legalAuthenticator/h:signatureCode", NS).get("code") == "S"
        stamped = root.find("h:legalAuthenticator/h:time", NS).get("value")
        # the signing instant, written as Paris local time with its offset
        assert stamped == doc.signed_at.astimezone(ZoneInfo("Europe/Paris")).strftime("%Y%m%d%H%M%S%z")
        assert stamped[-5:] in ("+0100", "+0200")
        assert outbox[doc.id][0].startswith("dmp:") and outbox[doc.id][1] == "pending"
        assert audit_actions(signed_chain, doc.id) == ["document.generate", "document.sign"]

    pdf = docs[0].pdf
    flipped = bytearray(pdf)
    flipped[len(flipped) // 3] ^= 0x01
    tampered = verify_pdf(bytes(flipped), trust_roots=[signed_chain.ca])
    assert not tampered.ok and not (tampered.intact and tampered.valid)
    updated = verify_pdf(appended_update(pdf), trust_roots=[signed_chain.ca])
    assert not updated.ok and not updated.covers_entire_file
    assert "complété après la signature" in updated.summary_fr()
    with signed_chain.db.uow() as uow:
        assert verify_chain(uow) == []


@pytest.mark.skipif(not HAS_PDFSIG, reason=pdfsig_tool.SKIP_REASON)
def test_signed_documents_and_tampering_as_poppler_sees_them(signed_chain: Chain, tmp_path: Path) -> None:
    """The same signed documents, checked by an independent verifier (poppler's pdfsig with NSS)."""
    docs = signed_chain.documents()
    assert docs
    for doc in docs:
        report = pdfsig(doc.pdf, tmp_path, signed_chain.ca)
        assert report.ok, report.output
    pdf = docs[0].pdf
    flipped = bytearray(pdf)
    flipped[len(flipped) // 3] ^= 0x01
    assert not pdfsig(bytes(flipped), tmp_path, signed_chain.ca).signature_valid
    report = pdfsig(appended_update(pdf), tmp_path, signed_chain.ca)
    assert report.signature_valid and not report.total_document_signed, report.output


class _FixedDirectory:
    """Signer directory returning one given credential whatever the physician (for refusals)."""

    def __init__(self, p12: Path, passphrase: str, *, ca: Path, crl: Path) -> None:
        self.args = (p12, passphrase, ca, crl)

    def signer_for(self, *, id_nat: str, name: str) -> PdfSigner:
        p12, passphrase, ca, crl = self.args
        return Pkcs12Signer(p12, passphrase, id_nat=id_nat, trust_ca=ca, crl=crl)


def _assert_untouched(chain: Chain, ids: list[str]) -> None:
    with chain.db.uow() as uow:
        for doc_id in ids:
            doc = uow.session.get(m.Document, doc_id)
            assert doc is not None and doc.status == "draft" and doc.signed_at is None
        assert not list(uow.session.scalars(select(m.OutboxMessage)))
        assert not list(uow.session.scalars(select(m.AuditEvent).where(m.AuditEvent.action == "document.sign")))


def test_signature_refusals(chain: Chain) -> None:
    signer_id, ids = next(iter(chain.drafts.items()))
    with chain.db.uow() as uow:
        signer = uow.session.get(m.Professional, signer_id)
        other = uow.session.scalars(select(m.Professional).where(m.Professional.id != signer_id,
                                                                 m.Professional.is_physician)).first()
        assert signer is not None and other is not None
        name, id_nat = f"{signer.given} {signer.family}", "8" + signer.rpps
        other_name, other_id_nat = f"{other.given} {other.family}", "8" + other.rpps
        other_id = other.id

    def sign(directory: Any = None, *, as_id: str = signer_id, doc_ids: list[str] = ids) -> None:
        with chain.db.uow() as uow:
            sign_documents(uow, document_ids=doc_ids, signer_professional_id=as_id, cda=cda_builder(),
                           signers=directory or chain.signers)

    # not in the signer's queue: another physician, an unknown document
    with pytest.raises(SignatureRefused, match="n'est pas dans la file « à signer »"):
        sign(as_id=other_id)
    with pytest.raises(SignatureRefused, match="n'est pas dans la file"):
        sign(doc_ids=["00000000-0000-0000-0000-000000000000"])

    pki = init_demo_pki(chain.pki_dir, [(name, id_nat), (other_name, other_id_nat)])
    # a certificate whose subject is another physician
    theirs = pki.credential(other_id_nat)
    with pytest.raises(SignatureRefused, match="pas au médecin signataire attendu"):
        sign(_FixedDirectory(theirs.p12_path, theirs.passphrase, ca=pki.ca_path, crl=pki.crl_path))
    # expired, not yet valid
    now = datetime.now(UTC)
    expired = pki.issue(name, id_nat, not_before=now - timedelta(days=400), not_after=now - timedelta(days=1),
                        filename="expired", register=False)
    with pytest.raises(SignatureRefused, match="a expiré"):
        sign(_FixedDirectory(expired.p12_path, expired.passphrase, ca=pki.ca_path, crl=pki.crl_path))
    future = pki.issue(name, id_nat, not_before=now + timedelta(days=2), filename="future", register=False)
    with pytest.raises(SignatureRefused, match="pas encore valide"):
        sign(_FixedDirectory(future.p12_path, future.passphrase, ca=pki.ca_path, crl=pki.crl_path))
    # revoked (CRL of the demo CA)
    pki.revoke(pki.credential(id_nat).serial_number)
    with pytest.raises(SignatureRefused, match="révoqué"):
        sign()
    _assert_untouched(chain, ids)

    # a fresh certificate signs; signing again is refused (no longer in the queue)
    fresh = pki.issue(name, id_nat, filename="fresh", register=False)
    sign(_FixedDirectory(fresh.p12_path, fresh.passphrase, ca=pki.ca_path, crl=pki.crl_path))
    with pytest.raises(SignatureRefused, match="n'est pas dans la file"):
        sign()


def test_a_draft_of_a_decision_without_quorum_is_never_signed(chain: Chain) -> None:
    """Defence in depth: should a draft exist for a decision whose session had no quorum (e.g. generated
    before the rule), signing refuses it in French and nothing reaches the outbox."""
    signer_id, ids = next(iter(chain.drafts.items()))
    with chain.db.uow() as uow:
        doc = uow.session.get(m.Document, ids[0])
        assert doc is not None
        decision = uow.session.scalars(select(m.Decision).where(m.Decision.case_id == doc.case_id)).one()
        decision.quorum = "not_met"
        uow.commit()
    with chain.db.uow() as uow, pytest.raises(SignatureRefused, match="^Quorum non atteint à la séance du "):
        sign_documents(uow, document_ids=ids, signer_professional_id=signer_id, cda=cda_builder(),
                       signers=chain.signers)
    _assert_untouched(chain, ids)


# ---------------------------------------------------------------- corrections


class _RecordingTransport:
    def __init__(self) -> None:
        self.submissions: list[Submission] = []

    def submit(self, submission: Submission) -> SubmitOutcome:
        self.submissions.append(submission)
        return SubmitOutcome(status_code=200, excerpt="ok")


def test_pps_correction_end_to_end(signed_chain: Chain) -> None:
    db = signed_chain.db
    v1 = signed_chain.documents(kind="PPS")[0]
    with db.uow() as uow:
        plan = pps_services.plan_of_case(uow, v1.case_id)
        assert plan is not None
        items = pps_services.current_input(uow, plan).items
    first = next(i for i in items if i.category == "treatment")
    moved = dataclasses.replace(first, start=date(2031, 5, 12), end=date(2031, 6, 30), place="Clinique du Parc")
    new_items = (moved, *(i for i in items if i is not first),
                 PpsItemInput(category="follow_up", code="MED-091", text="Prise de sang hebdomadaire."))
    with db.uow() as uow:
        v2_id = correct_document(
            uow, document_id=v1.id, actor="dr.test",
            changes=CorrectionInput(reason="Report après toxicité.", plan_items=new_items, update_motive="MED-560"),
            cda=cda_builder(), pdf=pdf_renderer())
    v1_now, v2 = (signed_chain.documents(id=i)[0] for i in (v1.id, v2_id))
    assert v1_now.status == "signed"  # still valid until the new version is signed
    assert v2.status == "draft" and v2.replaces_id == v1.id and v2.signer_id == v1.signer_id
    assert v2.set_id == v1.set_id and v2.version == 2 and v2.unique_id != v1.unique_id
    root = cda_root(v2.cda)
    assert root.find("h:setId", NS).get("root") == v1.set_id
    assert root.find("h:versionNumber", NS).get("value") == "2"
    assert root.find("h:id", NS).get("root") == v2.unique_id
    rel = root.find("h:relatedDocument", NS)
    assert rel is not None and rel.get("typeCode") == "RPLC"
    assert rel.find("h:parentDocument/h:id", NS).get("root") == v1.unique_id
    assert root.xpath("//h:value[@code='MED-560']", namespaces=NS)
    # the corrected plan: the moved treatment's planned period and place, the added follow-up
    assert root.xpath("//h:low[@value='20310512']", namespaces=NS) and root.xpath(
        "//h:high[@value='20310630']", namespaces=NS)
    assert "Clinique du Parc" in v2.cda.decode() and "Clinique du Parc" not in v1.cda.decode()
    assert root.xpath("//h:qualifier/h:value[@code='MED-091']", namespaces=NS)
    with db.uow() as uow:
        assert not list(uow.session.scalars(select(m.OutboxMessage).where(m.OutboxMessage.document_id == v2.id)))

    with db.uow() as uow:
        sign_documents(uow, document_ids=[v2.id], signer_professional_id=v2.signer_id, cda=cda_builder(),
                       signers=signed_chain.signers)
    v1_now, v2 = (signed_chain.documents(id=i)[0] for i in (v1.id, v2_id))
    assert v1_now.status == "superseded" and v2.status == "signed"
    assert v1_now.cda == v1.cda and v1_now.pdf == v1.pdf  # the old version's bytes are untouched
    assert verify_pdf(v2.pdf, trust_roots=[signed_chain.ca]).ok
    assert audit_actions(signed_chain, v1.id)[-1] == "document.supersede"
    assert audit_actions(signed_chain, v2.id) == ["document.correct", "document.sign"]

    # delivery: v1 then v2, whose submission carries the replacement (ITI-41 RPLC association)
    with db.uow() as uow:
        destinations = {o.destination for o in uow.session.scalars(select(m.OutboxMessage))}
        v2_outbox = [o.destination for o in uow.session.scalars(
            select(m.OutboxMessage).where(m.OutboxMessage.document_id == v2.id))]
    assert v2_outbox == [o for o in v2_outbox if o.startswith("dmp:")] and len(v2_outbox) == 1
    transport = _RecordingTransport()
    dispatch_pending(db, transports={d: transport for d in destinations}, policy=RetryPolicy(), max_seconds=30)
    by_uid = {s.unique_id: s for s in transport.submissions}
    assert by_uid[v2.unique_id].replaces_unique_id == v1.unique_id
    assert by_uid[v1.unique_id].replaces_unique_id is None
    assert signed_chain.documents(id=v1.id)[0].status == "superseded"
    assert signed_chain.documents(id=v2.id)[0].status == "delivered"
    with db.uow() as uow:
        assert verify_chain(uow) == []


def test_frcp_correction_keeps_the_proposal(signed_chain: Chain) -> None:
    db = signed_chain.db
    v1 = signed_chain.documents(kind="FRCP")[0]
    with db.uow() as uow:
        before = uow.session.scalars(select(m.Decision).where(m.Decision.case_id == v1.case_id)).one()
        codes, proposal = list(before.proposal_codes), before.proposal_text
    for changes in ({"proposal_text": "Chimiothérapie adjuvante, 6 cycles."}, {"proposal_codes": ("C15632",)}):
        with db.uow() as uow, pytest.raises(ValidationFailed, match="nouvelle présentation en RCP") as exc:
            correct_document(uow, document_id=v1.id, actor="dr.test",
                             changes=CorrectionInput(reason="Erreur de saisie.", **changes),  # type: ignore[arg-type]
                             cda=cda_builder(), pdf=pdf_renderer())
        assert exc.value.field == next(iter(changes))
    text = "Bilan biologique complet avant le début du traitement."
    with db.uow() as uow:
        v2_id = correct_document(uow, document_id=v1.id, actor="dr.test",
                                 changes=CorrectionInput(reason="Commentaire complété.", comment=text),
                                 cda=cda_builder(), pdf=pdf_renderer())
    v2 = signed_chain.documents(id=v2_id)[0]
    assert text in v2.cda.decode("utf-8") and text not in v1.cda.decode("utf-8")
    with db.uow() as uow:
        decision = uow.session.scalars(select(m.Decision).where(m.Decision.case_id == v1.case_id)).one()
        assert decision.proposal_codes == codes and decision.proposal_text == proposal
        assert decision.comment == text


def test_pps_correction_stays_within_the_decided_proposal(signed_chain: Chain) -> None:
    db = signed_chain.db
    pps = signed_chain.documents(kind="PPS")[0]
    with db.uow() as uow:
        allowed = pps_services.plan_view(uow, pps.case_id).allowed_treatments
    other = next(c for c in ("C15632", "C93352", "C15313", "387713003") if c not in allowed)
    with db.uow() as uow, pytest.raises(ValidationFailed, match="nouvelle présentation en RCP"):
        correct_document(uow, document_id=pps.id, actor="dr.test",
                         changes=CorrectionInput(reason="Autre traitement.", treatment_codes=(other,),
                                                 update_motive="MED-560"), cda=cda_builder(), pdf=pdf_renderer())
    assert len(signed_chain.documents(set_id=pps.set_id)) == 1


def test_correction_refusals(signed_chain: Chain) -> None:
    db = signed_chain.db
    pps = signed_chain.documents(kind="PPS")[0]
    frcp = signed_chain.documents(kind="FRCP")[0]

    def correct(doc_id: str, **kw: Any) -> str:
        kw.setdefault("reason", "Correction.")
        with db.uow() as uow:
            return correct_document(uow, document_id=doc_id, actor="dr.test", changes=CorrectionInput(**kw),
                                    cda=cda_builder(), pdf=pdf_renderer())

    with pytest.raises(ValidationFailed, match="motif de mise à jour du PPS est obligatoire"):
        correct(pps.id, treatment_codes=("C15632",))
    with pytest.raises(UnknownCode, match="JDV_MotifMiseAJour_CISIS"):
        correct(pps.id, update_motive="XXX")
    with pytest.raises(UnknownCode, match="JDV_TypeTraitementPPS_CISIS"):
        correct(pps.id, update_motive="MED-560", treatment_codes=("nope",))
    with pytest.raises(ValidationFailed, match="Aucune correction"):
        correct(frcp.id)
    with pytest.raises(ValidationFailed, match="nouvelle présentation en RCP"):
        correct(pps.id, update_motive="MED-560", proposal_text="x")
    with pytest.raises(ValidationFailed, match="motif de la correction"):
        correct(frcp.id, reason=" ", proposal_text="x")
    v2 = correct(pps.id, update_motive="GEN-176")
    with pytest.raises(Conflict, match="version plus récente"):
        correct(pps.id, update_motive="GEN-176")
    with pytest.raises(Conflict, match="Seul un document signé"):
        correct(v2, update_motive="GEN-176")
    assert len(signed_chain.documents(set_id=pps.set_id)) == 2


def test_demo_correction(signed_chain: Chain) -> None:
    out = demo_correction(signed_chain.db, today=datetime.now(UTC).date(), signers=signed_chain.signers,
                          cda=cda_builder(), pdf=pdf_renderer())
    assert out["corrected"] and out["kind"] == "PPS"
    assert out["update_motive"] == {"code": "MED-560",
                                    "display": "Réajustement du programme thérapeutique et de suivi"}
    assert out["previous"]["version"] == 1 and out["previous"]["status"] == "superseded"
    assert out["current"]["version"] == 2 and out["current"]["status"] == "signed"
    assert out["outbox"] and all(d.startswith("dmp:") for d in out["outbox"])
    assert out["plan_change"]["from"] != out["plan_change"]["to"]
    v2 = signed_chain.documents(id=out["current"]["document_id"])[0]
    assert v2.replaces_id == out["previous"]["document_id"]
    assert verify_pdf(v2.pdf, trust_roots=[signed_chain.ca]).ok


class _FailsFirstFor:
    """Refuses the first submission of one uniqueId (transient), records the order of what it accepted."""

    def __init__(self, unique_id: str) -> None:
        self.unique_id = unique_id
        self.failed = False
        self.accepted: list[str] = []

    def submit(self, submission: Submission) -> SubmitOutcome:
        if submission.unique_id == self.unique_id and not self.failed:
            self.failed = True
            raise DeliveryError("Service indisponible (503).", status=503)
        self.accepted.append(submission.unique_id)
        return SubmitOutcome(status_code=200, excerpt="ok")


def test_a_new_version_is_never_delivered_before_the_one_it_replaces(signed_chain: Chain) -> None:
    db = signed_chain.db
    v1 = signed_chain.documents(kind="PPS")[0]
    with db.uow() as uow:
        v2_id = correct_document(
            uow, document_id=v1.id, actor="dr.test",
            changes=CorrectionInput(reason="Changement de programme.", update_motive="MED-560"),
            cda=cda_builder(), pdf=pdf_renderer())
    with db.uow() as uow:
        sign_documents(uow, document_ids=[v2_id], signer_professional_id=v1.signer_id, cda=cda_builder(),
                       signers=signed_chain.signers)
    v2 = signed_chain.documents(id=v2_id)[0]
    with db.uow() as uow:
        destinations = {o.destination for o in uow.session.scalars(select(m.OutboxMessage))}
    transport = _FailsFirstFor(v1.unique_id)  # v1's first attempt fails: v2 is due before v1 is in place
    stats = dispatch_pending(db, transports={d: transport for d in destinations},
                             policy=RetryPolicy(base_s=0.05, max_s=0.2), max_seconds=60)
    assert transport.failed and stats.dead == 0
    assert transport.accepted.index(v1.unique_id) < transport.accepted.index(v2.unique_id)
    assert signed_chain.documents(id=v2.id)[0].status == "delivered"
