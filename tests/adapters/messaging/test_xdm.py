"""IHE XDM media (IHE_XDM.ZIP) for MSSanté: layout, METADATA.XML and determinism."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest
from lxml import etree

from dcc.adapters.cda.builder import build_frcp
from dcc.adapters.messaging.xdm import (
    METADATA_PATH,
    build_xdm_zip,
    intended_recipient,
    pdf_unique_id,
)
from dcc.adapters.national_record import entry_from_cda, entry_uuid_for
from dcc.bench.samples import sample_frcp

NS = {"lcm": "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0", "rim": "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"}
UNIQUE_ID_SCHEME = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
PATIENT_ID_SCHEME = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
SS_UNIQUE_ID_SCHEME = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
FORMAT_SCHEME = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
PDF = b"%PDF-1.7\n% fake rendering\n%%EOF\n"


@pytest.fixture(scope="module")
def cda() -> bytes:
    return build_frcp(sample_frcp())


def _slots(obj: etree._Element) -> dict[str, list[str]]:
    return {
        s.get("name"): [v.text or "" for v in s.findall("rim:ValueList/rim:Value", NS)]
        for s in obj.findall("rim:Slot", NS)
    }


def _ids(obj: etree._Element) -> dict[str, str]:
    return {e.get("identificationScheme"): e.get("value") for e in obj.findall("rim:ExternalIdentifier", NS)}


def test_layout_and_metadata(cda: bytes) -> None:
    entry = entry_from_cda(cda)
    data = build_xdm_zip(
        cda, PDF, entry, submission_set_id="2.25.42",
        intended_recipients=[intended_recipient("gp@cabinet.mssante.fr")],
    )
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    assert archive.namelist() == [
        "README.TXT",
        "INDEX.HTM",
        "IHE_XDM/SUBSET01/METADATA.XML",
        "IHE_XDM/SUBSET01/DOC00001.XML",
        "IHE_XDM/SUBSET01/DOC00002.PDF",
    ]
    assert archive.read("IHE_XDM/SUBSET01/DOC00001.XML") == cda
    assert archive.read("IHE_XDM/SUBSET01/DOC00002.PDF") == PDF
    index = archive.read("INDEX.HTM").decode("utf-8")
    assert 'href="IHE_XDM/SUBSET01/DOC00001.XML"' in index and 'href="README.TXT"' in index
    assert entry.unique_id in archive.read("README.TXT").decode("utf-8")

    root = etree.fromstring(archive.read(METADATA_PATH))
    assert root.tag == "{urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0}SubmitObjectsRequest"
    entries = {_ids(o)[UNIQUE_ID_SCHEME]: o for o in root.findall("rim:RegistryObjectList/rim:ExtrinsicObject", NS)}
    assert set(entries) == {entry.unique_id, pdf_unique_id(entry.unique_id)}

    cda_entry = entries[entry.unique_id]
    slots = _slots(cda_entry)
    member = slots["URI"][0]
    in_zip = archive.read(f"IHE_XDM/SUBSET01/{member}")
    assert slots["hash"] == [hashlib.sha1(in_zip).hexdigest()]
    assert slots["size"] == [str(len(in_zip))]
    assert cda_entry.get("mimeType") == "text/xml"
    assert cda_entry.get("id") == entry_uuid_for(entry.unique_id)
    assert _ids(cda_entry)[PATIENT_ID_SCHEME] == entry.patient_id  # the INS identifies the patient

    pdf_entry = entries[pdf_unique_id(entry.unique_id)]
    pdf_slots = _slots(pdf_entry)
    assert archive.read(f"IHE_XDM/SUBSET01/{pdf_slots['URI'][0]}") == PDF
    assert pdf_slots["hash"] == [hashlib.sha1(PDF).hexdigest()] and pdf_slots["size"] == [str(len(PDF))]
    assert pdf_entry.get("mimeType") == "application/pdf"
    formats = [c.get("nodeRepresentation") for c in pdf_entry.findall("rim:Classification", NS)
               if c.get("classificationScheme") == FORMAT_SCHEME]
    assert formats == ["urn:ihe:iti:xds-sd:pdf:2008"]

    [package] = root.findall("rim:RegistryObjectList/rim:RegistryPackage", NS)
    assert _ids(package)[SS_UNIQUE_ID_SCHEME] == "2.25.42"
    assert _slots(package)["intendedRecipient"] == ["||^^Internet^gp@cabinet.mssante.fr"]
    associations = root.findall("rim:RegistryObjectList/rim:Association", NS)
    members = {a.get("targetObject") for a in associations if a.get("associationType").endswith("HasMember")}
    assert members == {cda_entry.get("id"), pdf_entry.get("id")}
    [xfrm] = [a for a in associations if a.get("associationType").endswith("XFRM")]
    assert (xfrm.get("sourceObject"), xfrm.get("targetObject")) == (pdf_entry.get("id"), cda_entry.get("id"))


def test_same_inputs_give_the_same_bytes(cda: bytes) -> None:
    entry = entry_from_cda(cda)
    first = build_xdm_zip(cda, PDF, entry, submission_set_id="2.25.7", submission_time="20240301120000")
    again = build_xdm_zip(cda, PDF, entry, submission_set_id="2.25.7", submission_time="20240301120000")
    assert first == again


def test_without_pdf(cda: bytes) -> None:
    entry = entry_from_cda(cda)
    archive = zipfile.ZipFile(io.BytesIO(build_xdm_zip(cda, None, entry, submission_set_id="2.25.8")))
    assert "IHE_XDM/SUBSET01/DOC00002.PDF" not in archive.namelist()
    root = etree.fromstring(archive.read(METADATA_PATH))
    assert len(root.findall("rim:RegistryObjectList/rim:ExtrinsicObject", NS)) == 1


def test_metadata_must_describe_the_cda(cda: bytes) -> None:
    entry = entry_from_cda(cda)
    with pytest.raises(ValueError):
        build_xdm_zip(cda + b" ", PDF, entry, submission_set_id="2.25.9")
