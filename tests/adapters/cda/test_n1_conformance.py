"""A case attachment as a CDA N1 document (non-structured body) against the kit: XSD, the generic model
(structuration minimale, run from a copy completed with the kit's own JDV_J07) and the three cross-cutting
schematrons, zero failed error assertions."""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime

import pytest
from lxml import etree
from PIL import Image

from dcc import valuesets
from dcc.adapters.cda.n1 import N1Content, build_n1, n1_body
from dcc.adapters.cda.validate import STRUCMIN, KitValidator, find_kit
from dcc.bench.samples import sample_frcp
from dcc.domain.documents import DocumentIds

pytestmark = pytest.mark.integration
KIT = find_kit()
NS = {"h": "urn:hl7-org:v3"}
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
       b"trailer<</Root 1 0 R>>\n%%EOF\n")


@pytest.fixture(scope="module")
def validator() -> KitValidator:
    if KIT is None:
        pytest.skip("Kit de test CDA de l'ANS introuvable (DCC_ANS_KIT ou ../shared/ans-cda-kit)")
    return KitValidator(KIT)


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), "blue").save(out, "JPEG")
    return out.getvalue()


def _content(media_type: str, data: bytes, type_code: str = "60568-3") -> N1Content:
    f = sample_frcp()
    return N1Content(ids=DocumentIds("2.25.4242", "2.25.4343"),
                     type_code=valuesets.lookup("JDV_J07_XdsTypeCode_CISIS", type_code),
                     title="CR anatomopathologique de la biopsie", shared_at=datetime(2026, 12, 3, 9, 30, tzinfo=UTC),
                     patient=f.patient, sharer=f.author, custodian=f.custodian, board=f.board,
                     media_type=media_type, data=data)


@pytest.mark.parametrize(("media_type", "data", "type_code"),
                         [("application/pdf", PDF, "60568-3"), ("image/jpeg", _jpeg(), "18748-4")])
def test_n1_document_passes_the_kit(validator: KitValidator, media_type: str, data: bytes, type_code: str) -> None:
    xml = build_n1(_content(media_type, data, type_code))
    report = validator.validate(xml)
    assert report.kind == "N1"
    assert report.checks[:2] == ["XSD", STRUCMIN] and len(report.checks) == 5
    assert report.ok, "\n".join(str(f) for f in report.failures)
    assert n1_body(xml) == (media_type, data)


def test_n1_header_states_what_was_entered() -> None:
    xml = build_n1(_content("application/pdf", PDF))
    root = etree.fromstring(xml)
    assert sorted(root.xpath("h:templateId/@root", namespaces=NS)) == sorted(
        ["2.16.840.1.113883.2.8.2.1", "1.2.250.1.213.1.1.1.1", "1.3.6.1.4.1.19376.1.2.20"])
    assert root.xpath("string(h:code/@code)", namespaces=NS) == "60568-3"
    assert root.xpath("string(h:title)", namespaces=NS) == "CR anatomopathologique de la biopsie"
    # 09:30 UTC is 10:30 in Paris (winter)
    assert root.xpath("string(h:effectiveTime/@value)", namespaces=NS) == "20261203103000+0100"
    assert root.xpath("string(h:author/h:time/@value)", namespaces=NS) == "20261203103000+0100"
    assert root.xpath("string(h:legalAuthenticator/h:time/@value)", namespaces=NS) == "20261203103000+0100"
    author = root.xpath("string(h:author/h:assignedAuthor/h:id/@extension)", namespaces=NS)
    assert author == root.xpath("string(h:legalAuthenticator/h:assignedEntity/h:id/@extension)", namespaces=NS)
    text = root.xpath("h:component/h:nonXMLBody/h:text", namespaces=NS)[0]
    assert text.get("mediaType") == "application/pdf" and text.get("representation") == "B64"
    assert base64.b64decode(text.text) == PDF


def test_the_generic_model_is_not_vacuous(validator: KitValidator) -> None:
    root = etree.fromstring(build_n1(_content("application/pdf", PDF)))
    for tid in root.xpath("h:templateId[@root='1.2.250.1.213.1.1.1.1']", namespaces=NS):
        root.remove(tid)
    root.find("{urn:hl7-org:v3}code").set("code", "34794-9")  # not in JDV_J07
    report = validator.validate(etree.tostring(root))
    messages = " ".join(f.message for f in report.failures if f.check == STRUCMIN)
    assert "1.2.250.1.213.1.1.1.1" in messages
    assert "JDV_J07_XdsTypeCode_CISIS" in messages


@pytest.mark.parametrize(("type_code", "class_code"), [
    # the DMP's ASS_X16-CorrespondanceType-Classe-DMP (version 20240223120000): an imaging report is filed under
    # TRE_A03 31 "Imagerie médicale", the pathology report under 10 "Compte rendu"
    ("18748-4", "31"), ("60568-3", "10"),
])
def test_n1_entry_class_follows_the_dmp_type_to_class_correspondence(type_code: str, class_code: str) -> None:
    from dcc.adapters.national_record.metadata import check_codes, entry_from_cda

    entry = entry_from_cda(build_n1(_content("application/pdf", PDF, type_code)))
    assert (entry.type_code.code, entry.class_code.code, entry.class_code.scheme) == (
        type_code, class_code, "1.2.250.1.213.1.1.4.1")
    check_codes(entry)
