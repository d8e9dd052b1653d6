"""The DMP simulator as a registry: raw ITI-41 requests over loopback HTTP, faults, state and dumps."""

from __future__ import annotations

import dataclasses
import email.policy
import hashlib
import time
import uuid
from collections.abc import Callable, Iterator
from email.parser import BytesParser
from pathlib import Path

import httpx
import pytest
import typer
from lxml import etree

from dcc.adapters.national_record import (
    CodedValue,
    DocumentEntry,
    SenderIdentity,
    entry_from_cda,
    make_demo_identity,
)
from dcc.adapters.national_record.xds import build_envelope, pack_mtom, submission_signature
from dcc.cli.simulator import dmp_simulator
from dcc.simulator.app import FaultSpec, create_app
from dcc.simulator.samples import sample_cda
from dcc.simulator.server import RunningServer, start_in_thread

SOAP = "http://www.w3.org/2003/05/soap-envelope"
RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"


@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> SenderIdentity:
    return make_demo_identity(
        tmp_path_factory.mktemp("vihf-sim"), "Centre Hospitalier d'Angers", "1750100125"
    )


@pytest.fixture()
def dump_dir(tmp_path: Path) -> Path:
    return tmp_path / "dump"


@pytest.fixture()
def server(dump_dir: Path, identity: SenderIdentity) -> Iterator[RunningServer]:
    # the simulator trusts the demo CA that issued the sender's seal certificate
    with start_in_thread(create_app(dump_dir=dump_dir, trust_store=identity.trust_anchor)) as running:
        yield running


def _post(
    server: RunningServer,
    identity: SenderIdentity,
    cda: bytes,
    entry: DocumentEntry,
    *,
    edit_envelope: Callable[[etree._Element], None] | None = None,
    document: bytes | None = None,
) -> httpx.Response:
    """Send a hand-built ITI-41 request (no client-side checks), optionally altered; the submission set is
    signed over `cda` (what the metadata describes)."""
    cid = f"doc.{uuid.uuid4().hex}@test"
    sig_entry, sig_bytes, sig_cid = submission_signature(identity, cda, entry)
    envelope = build_envelope(
        entry,
        identity=identity,
        endpoint=f"{server.url}/xds/iti41",
        document_cid=cid,
        message_id=f"urn:uuid:{uuid.uuid4()}",
        submission_set_unique_id=f"2.25.{uuid.uuid4().int}",
        signature=(sig_entry, sig_cid),
    )
    if edit_envelope is not None:
        edit_envelope(envelope)
    soap = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
    body, content_type = pack_mtom(
        soap, document if document is not None else cda, document_cid=cid, mime_type="text/xml",
        extra=[(sig_cid, sig_bytes, "text/xml")],
    )
    return httpx.post(f"{server.url}/xds/iti41", content=body, headers={"Content-Type": content_type})


def _soap(response: httpx.Response) -> etree._Element:
    ctype = response.headers["content-type"]
    assert ctype.startswith("multipart/related") and 'type="application/xop+xml"' in ctype
    message = BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {ctype}\r\n\r\n".encode() + response.content
    )
    return etree.fromstring(next(iter(message.iter_parts())).get_payload(decode=True))


def _error_codes(response: httpx.Response) -> list[str]:
    registry = _soap(response).find(f".//{{{RS}}}RegistryResponse")
    assert registry is not None
    assert registry.get("status") == "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
    return [e.get("errorCode", "") for e in registry.iter(f"{{{RS}}}RegistryError")]


def test_valid_request_gets_success_and_relates_to(server: RunningServer, identity: SenderIdentity) -> None:
    cda = sample_cda(unique_id="1.2.250.1.213.1.1.9.99.200")
    response = _post(server, identity, cda, entry_from_cda(cda))
    assert response.status_code == 200
    soap = _soap(response)
    assert soap.findtext(f"{{{SOAP}}}Header/{{http://www.w3.org/2005/08/addressing}}Action") == (
        "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-bResponse"
    )
    assert soap.find(f".//{{{RS}}}RegistryResponse").get("status").endswith(":Success")
    assert httpx.get(f"{server.url}/_state").json()[0]["sha256"] == hashlib.sha256(cda).hexdigest()


def test_not_mtom_is_a_sender_fault(server: RunningServer) -> None:
    response = httpx.post(
        f"{server.url}/xds/iti41", content=b"<x/>", headers={"Content-Type": "application/soap+xml"}
    )
    assert response.status_code == 400
    assert _soap(response).findtext(f".//{{{SOAP}}}Subcode/{{{SOAP}}}Value") == "InvalidMessage"


def test_tampered_vihf_is_refused(server: RunningServer, identity: SenderIdentity) -> None:
    def tamper(envelope: etree._Element) -> None:
        value = envelope.find(f".//{{{SAML}}}Attribute[@Name='Ressource_URN']/{{{SAML}}}AttributeValue")
        assert value is not None
        value.text = "urn:autre"

    cda = sample_cda()
    response = _post(server, identity, cda, entry_from_cda(cda), edit_envelope=tamper)
    assert response.status_code == 400
    assert _soap(response).findtext(f".//{{{SOAP}}}Subcode/{{{SOAP}}}Value") == "wsse:FailedCheck"
    assert httpx.get(f"{server.url}/_state").json() == []


def test_invalid_nir_key_is_unknown_patient(server: RunningServer, identity: SenderIdentity) -> None:
    cda = sample_cda(nir="279035121518988")
    assert "XDSUnknownPatientId" in _error_codes(_post(server, identity, cda, entry_from_cda(cda)))


def test_unknown_ins_authority_is_unknown_patient(server: RunningServer, identity: SenderIdentity) -> None:
    cda = sample_cda()
    entry = dataclasses.replace(entry_from_cda(cda), patient_id="279035121518989^^^&1.2.3.4&ISO^NH")
    assert "XDSUnknownPatientId" in _error_codes(_post(server, identity, cda, entry))


def test_code_outside_value_set_is_a_metadata_error(server: RunningServer, identity: SenderIdentity) -> None:
    cda = sample_cda()
    entry = dataclasses.replace(
        entry_from_cda(cda), practice_setting=CodedValue("LUNE", "1.2.250.1.213.1.1.4.9")
    )
    assert _error_codes(_post(server, identity, cda, entry)) == ["XDSRegistryMetadataError"]


def test_missing_classification_is_a_metadata_error(server: RunningServer, identity: SenderIdentity) -> None:
    def drop_type_code(envelope: etree._Element) -> None:
        document_id = next(envelope.iter(f"{{{RIM}}}ExtrinsicObject")).get("id")  # the CDA's, not the signature's
        for cl in envelope.iter(f"{{{RIM}}}Classification"):
            if (cl.get("classificationScheme") == "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
                    and cl.get("classifiedObject") == document_id):
                cl.getparent().remove(cl)

    cda = sample_cda()
    codes = _error_codes(_post(server, identity, cda, entry_from_cda(cda), edit_envelope=drop_type_code))
    assert codes == ["XDSRegistryMetadataError"]


def test_hash_and_size_are_checked_against_received_bytes(
    server: RunningServer, identity: SenderIdentity
) -> None:
    cda = sample_cda()
    altered = cda.replace(b"Chimioth", b"Radioth\xc3\xa9")  # other bytes, other size
    codes = _error_codes(_post(server, identity, cda, entry_from_cda(cda), document=altered))
    # the bytes are not those the submission set's signature covers either
    assert codes == ["XDSRegistryError", "XDSRepositoryMetadataError", "XDSRepositoryMetadataError"]


def test_reset_clears_state(server: RunningServer, identity: SenderIdentity) -> None:
    cda = sample_cda()
    _post(server, identity, cda, entry_from_cda(cda))
    assert len(httpx.get(f"{server.url}/_state").json()) == 1
    httpx.post(f"{server.url}/_reset").raise_for_status()
    assert httpx.get(f"{server.url}/_state").json() == []


def test_dump_writes_each_raw_request(server: RunningServer, dump_dir: Path) -> None:
    httpx.get(f"{server.url}/_state?x=1")
    httpx.post(f"{server.url}/_reset", content=b"hello")
    dumps = sorted(dump_dir.iterdir())
    assert [p.name for p in dumps] == ["000001-GET-state.http", "000002-POST-reset.http"]
    first = dumps[0].read_bytes()
    assert first.startswith(b"GET /_state?x=1 HTTP/1.1\r\n")
    assert first.endswith(b"\r\n\r\n")
    assert dumps[1].read_bytes().startswith(b"POST /_reset HTTP/1.1\r\n")
    assert dumps[1].read_bytes().endswith(b"\r\n\r\nhello")


def test_fault_spec_parse() -> None:
    spec = FaultSpec.parse("fail=0.3, drop_after_commit=0.1,latency_ms=50,outage_s=30,seed=7")
    assert spec == FaultSpec(fail=0.3, drop_after_commit=0.1, latency_ms=50, outage_s=30, seed=7)
    assert FaultSpec.parse("") == FaultSpec()
    with pytest.raises(ValueError, match="inconnu"):
        FaultSpec.parse("explode=1")
    with pytest.raises(ValueError, match="probabilité"):
        FaultSpec.parse("fail=2")


def test_seeded_faults_are_reproducible(identity: SenderIdentity) -> None:
    def statuses() -> list[int]:
        with start_in_thread(create_app(faults="fail=0.5,seed=11", trust_store=identity.trust_anchor)) as running:
            out = []
            for i in range(8):
                cda = sample_cda(unique_id=f"1.2.250.1.213.1.1.9.99.3{i}")
                out.append(_post(running, identity, cda, entry_from_cda(cda)).status_code)
            return out

    first = statuses()
    assert first == statuses()
    assert set(first) == {200, 503}


def test_latency(identity: SenderIdentity) -> None:
    with start_in_thread(create_app(faults="latency_ms=150", trust_store=identity.trust_anchor)) as running:
        cda = sample_cda()
        started = time.monotonic()
        assert _post(running, identity, cda, entry_from_cda(cda)).status_code == 200
        assert time.monotonic() - started >= 0.15


def test_faults_endpoint_rejects_bad_spec(server: RunningServer) -> None:
    response = httpx.post(f"{server.url}/_faults", content=b"boom")
    assert response.status_code == 422
    assert "inconnu" in response.json()["message"]


def test_cli_rejects_bad_fault_spec() -> None:
    with pytest.raises(typer.BadParameter):
        dmp_simulator(host="127.0.0.1", port=0, faults="boom", dump=None)


@pytest.mark.parametrize(
    ("content_type", "accepted"),
    [
        (CodedValue("SA01", "1.2.250.1.71.4.2.4", "Etablissement public de santé"), True),  # TRE_R02 (J02 lists it)
        (CodedValue("39", "1.2.250.1.213.3.3.13", "RCP"), False),  # TRE_R213: not a JDV_J59 system
        (CodedValue("SA99", "1.2.250.1.71.4.2.4", ""), False),  # J59 system, unknown code
        (CodedValue("RCP", "1.2.250.1.213.2.2", ""), False),  # TRE_R209 codes are two digits
    ],
)
def test_content_type_code_must_be_in_jdv_j59(server: RunningServer, identity: SenderIdentity,
                                              content_type: CodedValue, accepted: bool) -> None:
    cda = sample_cda(unique_id=f"1.2.250.1.213.1.1.9.59.{uuid.uuid4().int % 10**9}")
    response = _post(server, identity, cda, dataclasses.replace(entry_from_cda(cda), content_type=content_type))
    if accepted:
        assert _soap(response).find(f".//{{{RS}}}RegistryResponse").get("status").endswith(":Success")
    else:
        assert _error_codes(response) == ["XDSRegistryMetadataError"]
        assert httpx.get(f"{server.url}/_state").json() == []
