"""MHD ITI-65 (PDSm) over real HTTP on loopback: the transport against the DMP simulator in a thread."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from sqlalchemy import select

from dcc.adapters.db import models as m
from dcc.adapters.national_record import entry_from_cda, entry_uuid_for
from dcc.adapters.national_record.mhd import (
    FHIR_JSON,
    MhdTransport,
    build_bundle,
    security_label_patch,
)
from dcc.adapters.national_record.xds import SenderIdentity, XdsTransport
from dcc.bootstrap import MhdNationalRecord, XdsNationalRecord, mhd_base_url, national_record_transports, xds_endpoint
from dcc.config import Settings
from dcc.domain.ports import Submission
from dcc.errors import DeliveryError, UnknownCode
from dcc.services.seed import seed_directory
from dcc.services.uow import Database
from dcc.simulator.samples import sample_cda
from dcc.simulator.server import RunningServer

INS_CX = "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"


@pytest.fixture()
def transport(server: RunningServer) -> Iterator[MhdTransport]:
    with MhdTransport(server.url, timeout=10.0) as t:
        yield t


def _state(server: RunningServer) -> list[dict[str, object]]:
    state: list[dict[str, object]] = httpx.get(f"{server.url}/_state").json()
    return state


def _set_faults(server: RunningServer, spec: str) -> None:
    httpx.post(f"{server.url}/_faults", content=spec.encode()).raise_for_status()


def _resources(bundle: Bundle, kind: str) -> list[tuple[str, Any]]:
    return [
        (str(e.fullUrl), e.resource)
        for e in bundle.entry or []
        if e.resource is not None and e.resource.get_resource_type() == kind
    ]


def test_bundle_is_stored_with_its_sha256(server: RunningServer, transport: MhdTransport) -> None:
    cda = sample_cda(unique_id="1.2.250.1.213.1.1.9.98.100")
    result = transport.submit(cda, entry_from_cda(cda))
    assert result.status == "Success"
    assert result.status_code == 200
    assert result.entry_uuid == entry_uuid_for("1.2.250.1.213.1.1.9.98.100")
    assert any(loc.startswith("DocumentReference/") for loc in result.locations)
    [stored] = _state(server)
    assert stored["unique_id"] == "1.2.250.1.213.1.1.9.98.100"
    assert stored["sha256"] == hashlib.sha256(cda).hexdigest()
    assert stored["patient_id"] == INS_CX
    assert stored["type_code"] == "34794-8"
    assert stored["confidentiality"] == ["N"]
    assert stored["submissions"] == 1
    assert stored["visible_to_patient"] is True
    assert stored["replaced_by"] is None
    assert httpx.get(f"{server.url}/_documents/1.2.250.1.213.1.1.9.98.100").content == cda


def test_raw_request_is_an_iti65_transaction_bundle(
    server: RunningServer, transport: MhdTransport, dump_dir: Path
) -> None:
    cda = sample_cda(unique_id="1.2.250.1.213.1.1.9.98.101", note="ligne 1\nligne 2\r\n\té")
    transport.submit(cda, entry_from_cda(cda, extra_confidentiality=("INVISIBLE_PATIENT", "MASQUE_PS")))
    [dump] = sorted(dump_dir.glob("*-POST-fhir.http"))
    head, _, body = dump.read_bytes().partition(b"\r\n\r\n")
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    assert request_line == "POST /fhir HTTP/1.1"
    headers = {k.lower(): v for k, _, v in (line.partition(": ") for line in header_lines)}
    assert headers["content-type"] == FHIR_JSON

    bundle: Any = Bundle.model_validate_json(body)  # structural validation with the R4B models
    assert bundle.type == "transaction"
    assert any("pdsm-comprehensive-provide-document-bundle" in str(p) for p in bundle.meta.profile)
    for item in bundle.entry:
        assert str(item.fullUrl).startswith("urn:uuid:")
        assert item.request.method == "POST"
    [(list_url, submission_set)] = _resources(bundle, "List")
    [(doc_url, doc)] = _resources(bundle, "DocumentReference")
    [(binary_url, binary)] = _resources(bundle, "Binary")

    assert [(c.system, c.code) for c in submission_set.code.coding] == [
        ("https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes", "submissionset")
    ]
    assert submission_set.mode == "working"
    assert {i.use for i in submission_set.identifier} == {"usual", "official"}
    assert {e.url.rsplit("/", 1)[-1] for e in submission_set.extension} == {"ihe-sourceId", "ihe-designationType"}
    assert submission_set.subject.identifier.system == "urn:oid:1.2.250.1.213.1.4.10"
    assert submission_set.subject.identifier.value == "279035121518989"
    assert [str(e.item.reference) for e in submission_set.entry] == [doc_url]
    assert any("pdsm-submissionset-comprehensive" in str(p) for p in submission_set.meta.profile)

    assert any("pdsm-comprehensive-document-reference" in str(p) for p in doc.meta.profile)
    assert (doc.masterIdentifier.system, doc.masterIdentifier.value) == (
        "urn:ietf:rfc:3986",
        "urn:oid:1.2.250.1.213.1.1.9.98.101",
    )
    assert doc.status == "current"
    assert [(c.system, c.code) for c in doc.type.coding] == [("http://loinc.org", "34794-8")]
    assert [c.code for cat in doc.category for c in cat.coding] == ["10"]
    assert [c.code for label in doc.securityLabel for c in label.coding] == ["N", "INVISIBLE_PATIENT", "MASQUE_PS"]
    assert doc.subject.identifier.system == "urn:oid:1.2.250.1.213.1.4.10"
    assert doc.subject.identifier.value == "279035121518989"
    [content] = doc.content
    attachment = content.attachment
    assert attachment.contentType == "text/xml"
    assert attachment.url == binary_url
    assert binary.data == cda
    assert attachment.size == len(cda)
    assert attachment.hash == hashlib.sha1(cda).digest()
    raw_doc = next(e["resource"] for e in json.loads(body)["entry"] if e["fullUrl"] == doc_url)
    assert raw_doc["content"][0]["attachment"]["hash"] == base64.b64encode(hashlib.sha1(cda).digest()).decode()
    assert content.format.code == "urn:asip:ci-sis:frcp:2011"
    assert doc.context.facilityType.coding[0].code == "SA01"
    assert doc.context.practiceSetting.coding[0].code == "ETABLISSEMENT"
    assert doc.context.period.start is not None
    contained = {c.id: c for c in doc.contained}
    [author_ref] = doc.author
    role = contained[str(author_ref.reference).removeprefix("#")]
    practitioner = contained[str(role.practitioner.reference).removeprefix("#")]
    organization = contained[str(role.organization.reference).removeprefix("#")]
    assert [(i.system, i.value) for i in practitioner.identifier] == [("urn:oid:1.2.250.1.71.4.2.1", "801234567897")]
    assert [(i.system, i.value) for i in organization.identifier] == [("urn:oid:1.2.250.1.71.4.2.2", "1750100125")]
    assert doc.relatesTo is None
    assert list_url != doc_url != binary_url


def test_replacement_marks_the_old_entry(server: RunningServer, transport: MhdTransport) -> None:
    v1 = sample_cda(unique_id="1.2.250.1.213.1.1.9.98.105")
    v2 = sample_cda(unique_id="1.2.250.1.213.1.1.9.98.106", replaces="1.2.250.1.213.1.1.9.98.105", note="v2")
    transport.submit(v1, entry_from_cda(v1))
    old = transport.find_document("1.2.250.1.213.1.1.9.98.105")
    assert old.resource["status"] == "current"
    bundle = build_bundle(v2, entry_from_cda(v2), replaced=old).bundle
    new_doc, update = [e for e in bundle.entry if e.resource.get_resource_type() == "DocumentReference"]
    [relation] = new_doc.resource.relatesTo
    assert relation.code == "replaces"
    assert relation.target.reference == f"DocumentReference/{old.resource_id}"
    assert relation.target.identifier.value == "urn:oid:1.2.250.1.213.1.1.9.98.105"
    assert (update.request.method, update.request.url) == ("PUT", f"DocumentReference/{old.resource_id}")
    assert update.resource.status == "superseded"
    assert update.resource.masterIdentifier.value == "urn:oid:1.2.250.1.213.1.1.9.98.105"
    transport.submit(v2, entry_from_cda(v2), replaces_unique_id="1.2.250.1.213.1.1.9.98.105")
    read = httpx.get(f"{server.url}/fhir/DocumentReference/{old.resource_id}").json()
    assert read["status"] == "superseded"
    transport.submit(v2, entry_from_cda(v2))  # a retry of the replacement is harmless
    state = {d["unique_id"]: d for d in _state(server)}
    assert state["1.2.250.1.213.1.1.9.98.105"]["replaced_by"] == "1.2.250.1.213.1.1.9.98.106"
    assert state["1.2.250.1.213.1.1.9.98.106"]["replaced_by"] is None
    assert state["1.2.250.1.213.1.1.9.98.106"]["submissions"] == 2


def test_patch_security_label_makes_the_document_visible(server: RunningServer, transport: MhdTransport) -> None:
    cda = sample_cda(unique_id="1.2.250.1.213.1.1.9.98.108")
    transport.submit(cda, entry_from_cda(cda, extra_confidentiality=("INVISIBLE_PATIENT",)))
    [stored] = _state(server)
    assert stored["visible_to_patient"] is False
    result = transport.update_security_labels("1.2.250.1.213.1.1.9.98.108", ["N"])
    assert result.security_labels == ("N",)
    [stored] = _state(server)
    assert stored["visible_to_patient"] is True
    assert stored["confidentiality"] == ["N"]
    assert stored["submissions"] == 1  # a metadata update, not a resubmission
    assert stored["sha256"] == hashlib.sha256(cda).hexdigest()
    assert transport.security_labels("1.2.250.1.213.1.1.9.98.108") == ("N",)


def test_set_security_label_keeps_the_other_labels(server: RunningServer, transport: MhdTransport) -> None:
    cda = sample_cda(unique_id="1.2.250.1.213.1.1.9.98.109", confidentiality="R")
    transport.submit(cda, entry_from_cda(cda, extra_confidentiality=("INVISIBLE_PATIENT", "MASQUE_PS")))
    transport.set_security_label("1.2.250.1.213.1.1.9.98.109", "INVISIBLE_PATIENT", present=False)
    again = transport.set_security_label("1.2.250.1.213.1.1.9.98.109", "INVISIBLE_PATIENT", present=False)
    assert again.security_labels == ("R", "MASQUE_PS")  # idempotent: nothing left to change
    [stored] = _state(server)
    assert stored["confidentiality"] == ["R", "MASQUE_PS"]
    assert stored["visible_to_patient"] is True
    transport.set_security_label("1.2.250.1.213.1.1.9.98.109", "MASQUE_PS", present=False)
    assert _state(server)[0]["confidentiality"] == ["R"]


def test_patch_of_unknown_document_is_permanent(server: RunningServer, transport: MhdTransport) -> None:
    with pytest.raises(DeliveryError) as caught:
        transport.update_security_labels("1.2.250.1.213.1.1.9.98.998", ["N"])
    assert (caught.value.permanent, caught.value.status) == (True, 404)
    with pytest.raises(DeliveryError) as missing:
        transport.set_security_label("1.2.250.1.213.1.1.9.98.998", "INVISIBLE_PATIENT", present=False)
    assert missing.value.permanent is True


def test_patch_rules_on_the_simulator(server: RunningServer, transport: MhdTransport) -> None:
    cda = sample_cda(unique_id="1.2.250.1.213.1.1.9.98.110")
    result = transport.submit(cda, entry_from_cda(cda, extra_confidentiality=("INVISIBLE_PATIENT",)))
    by_id = f"{server.url}/fhir/DocumentReference/{result.entry_uuid.removeprefix('urn:uuid:')}"
    headers = {"Content-Type": "application/json-patch+json"}
    wrong_path = httpx.patch(by_id, content=b'[{"op": "replace", "path": "/status", "value": "x"}]', headers=headers)
    assert wrong_path.status_code == 422
    assert OperationOutcome.model_validate_json(wrong_path.content).issue[0].severity == "error"
    no_level = httpx.patch(by_id, content=json.dumps([{"op": "remove", "path": "/securityLabel/0"}]), headers=headers)
    assert no_level.status_code == 422
    # By id, removing the label at its index (plain JSON Patch semantics).
    removed = httpx.patch(by_id, content=json.dumps([{"op": "remove", "path": "/securityLabel/1"}]), headers=headers)
    assert removed.status_code == 200
    assert _state(server)[0]["visible_to_patient"] is True
    read = httpx.get(by_id)
    assert read.status_code == 200
    assert [c["code"] for label in read.json()["securityLabel"] for c in label["coding"]] == ["N"]
    with pytest.raises(DeliveryError):
        security_label_patch(["INVISIBLE_PATIENT"])  # no N/R/V level: refused before sending
    with pytest.raises(UnknownCode):
        security_label_patch(["N", "PAS_UN_CODE"])


def test_invalid_bundle_gives_400_operation_outcome(server: RunningServer) -> None:
    bad = {"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": {"resourceType": "Binary"}}]}
    bad["entry"][0]["resource"]["contentType"] = 5  # type: ignore[index]
    response = httpx.post(f"{server.url}/fhir", content=json.dumps(bad), headers={"Content-Type": FHIR_JSON})
    assert response.status_code == 400
    outcome = OperationOutcome.model_validate_json(response.content)
    assert outcome.issue[0].severity == "error"
    not_json = httpx.post(f"{server.url}/fhir", content=b"<xml/>", headers={"Content-Type": FHIR_JSON})
    assert not_json.status_code == 400
    wrong_type = httpx.post(f"{server.url}/fhir", content=b"{}", headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 415
    assert _state(server) == []


def test_hash_and_ins_are_checked_by_the_simulator(server: RunningServer) -> None:
    cda = sample_cda(unique_id="1.2.250.1.213.1.1.9.98.111")
    data = json.loads(build_bundle(cda, entry_from_cda(cda)).body)
    binary = next(e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == "Binary")
    binary["data"] = base64.b64encode(cda + b" ").decode()
    response = httpx.post(f"{server.url}/fhir", content=json.dumps(data), headers={"Content-Type": FHIR_JSON})
    assert response.status_code == 422
    codes = [i["details"]["coding"][0]["code"] for i in response.json()["issue"]]
    assert codes.count("XDSRepositoryMetadataError") == 2  # hash and size
    data = json.loads(build_bundle(cda, entry_from_cda(cda)).body)
    for item in data["entry"]:
        subject = item["resource"].get("subject")
        if subject:
            subject["identifier"]["value"] = "279035121518988"  # wrong NIR key
    response = httpx.post(f"{server.url}/fhir", content=json.dumps(data), headers={"Content-Type": FHIR_JSON})
    assert response.status_code == 422
    assert "XDSUnknownPatientId" in {i["details"]["coding"][0]["code"] for i in response.json()["issue"]}
    assert _state(server) == []


def test_response_classification_with_mock_transport() -> None:
    ok = {"resourceType": "Bundle", "type": "transaction-response", "entry": [{"response": {"status": "201"}}]}
    refused = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "not-found", "details": {"text": "INS inconnu"}}],
    }
    answers = iter(
        [
            httpx.Response(200, json=ok),
            httpx.Response(422, json=refused),
            httpx.Response(429, content=b"slow down", headers={"Retry-After": "7"}),
            httpx.Response(502, content=b"<html>bad gateway</html>", headers={"Content-Type": "text/html"}),
            httpx.Response(400, content=b"<html>bad request</html>", headers={"Content-Type": "text/html"}),
            httpx.Response(200, content=b"<html>portal</html>", headers={"Content-Type": "text/html"}),
        ]
    )
    client = httpx.Client(transport=httpx.MockTransport(lambda request: next(answers)))
    transport = MhdTransport("http://dmp.invalid", client=client)
    cda = sample_cda()
    entry = entry_from_cda(cda)
    assert transport.submit(cda, entry).status == "Success"
    with pytest.raises(DeliveryError) as unknown:
        transport.submit(cda, entry)
    assert (unknown.value.permanent, unknown.value.error_code) == (True, "not-found")
    assert "INS inconnu" in unknown.value.message
    with pytest.raises(DeliveryError) as throttled:
        transport.submit(cda, entry)
    assert (throttled.value.permanent, throttled.value.retry_after) == (False, 7.0)
    with pytest.raises(DeliveryError) as gateway:
        transport.submit(cda, entry)
    assert (gateway.value.permanent, gateway.value.status) == (False, 502)
    with pytest.raises(DeliveryError) as bad_request:
        transport.submit(cda, entry)
    assert (bad_request.value.permanent, bad_request.value.status) == (True, 400)
    with pytest.raises(DeliveryError) as unreadable:
        transport.submit(cda, entry)
    assert (unreadable.value.permanent, unreadable.value.error_code) == (False, "reponse_illisible")


def test_xds_and_mhd_feed_the_same_national_record(server: RunningServer, identity: SenderIdentity) -> None:
    frcp = sample_cda(unique_id="1.2.250.1.213.1.1.9.98.115")
    pps = sample_cda(unique_id="1.2.250.1.213.1.1.9.98.116", kind="PPS")
    XdsTransport(f"{server.url}/xds/iti41", identity=identity, timeout=10.0).submit(frcp, entry_from_cda(frcp))
    MhdTransport(server.url, timeout=10.0).submit(pps, entry_from_cda(pps))
    state = {d["unique_id"]: d for d in _state(server)}
    assert {d["patient_id"] for d in state.values()} == {INS_CX}
    assert state["1.2.250.1.213.1.1.9.98.116"]["type_code"] == "18776-5"
    # The same uniqueId resent over the other transport is recognised as the same document.
    MhdTransport(server.url, timeout=10.0).submit(frcp, entry_from_cda(frcp))
    assert {d["unique_id"]: d for d in _state(server)}["1.2.250.1.213.1.1.9.98.115"]["submissions"] == 2


# --- bootstrap ------------------------------------------------------------------------------------------


def test_endpoint_convention() -> None:
    assert xds_endpoint("http://127.0.0.1:8000") == "http://127.0.0.1:8000/xds/iti41"
    assert xds_endpoint("http://127.0.0.1:8000/") == "http://127.0.0.1:8000/xds/iti41"
    assert xds_endpoint("https://dmp.example/repo/iti41") == "https://dmp.example/repo/iti41"
    assert mhd_base_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000"
    assert mhd_base_url("http://127.0.0.1:8000/xds/iti41") == "http://127.0.0.1:8000"
    assert mhd_base_url("https://dmp.example/pdsm/fhir/") == "https://dmp.example/pdsm"


def test_mhd_national_record_port(server: RunningServer) -> None:
    record = MhdNationalRecord(server.url, timeout=10.0)
    try:
        cda = sample_cda(unique_id="1.2.250.1.213.1.1.9.98.117")
        outcome = record.submit(
            Submission(
                unique_id="1.2.250.1.213.1.1.9.98.117",
                cda=cda,
                pdf=b"",
                kind="frcp",
                extra_confidentiality=("INVISIBLE_PATIENT",),
            )
        )
        assert outcome.status_code == 200
        assert _state(server)[0]["visible_to_patient"] is False
        assert record.update_visibility("1.2.250.1.213.1.1.9.98.117", True).status_code == 200
        assert _state(server)[0]["visible_to_patient"] is True
        record.update_masking("1.2.250.1.213.1.1.9.98.117", True)
        assert _state(server)[0]["confidentiality"] == ["N", "MASQUE_PS"]
        bad = sample_cda(unique_id="1.2.250.1.213.1.1.9.98.118", facility="SA99")
        with pytest.raises(DeliveryError) as caught:
            record.submit(Submission(unique_id="1.2.250.1.213.1.1.9.98.118", cda=bad, pdf=b"", kind="frcp"))
        assert caught.value.permanent is True
        assert caught.value.error_code == "metadonnees_invalides"
        _set_faults(server, "fail=1")
        with pytest.raises(DeliveryError) as transient:
            record.submit(Submission(unique_id="1.2.250.1.213.1.1.9.98.117", cda=cda, pdf=b"", kind="frcp"))
        assert transient.value.permanent is False
    finally:
        record.close()


def test_regions_get_their_transport(sqlite_database: Database, tmp_path: Path, server: RunningServer) -> None:
    with sqlite_database.uow() as uow:
        seed_directory(uow, seed=1, regions=2)
        for region in uow.session.scalars(select(m.Region)).all():
            region.endpoint = server.url
        uow.commit()
    with sqlite_database.uow() as uow:
        kinds = {r.code: r.transport for r in uow.session.scalars(select(m.Region)).all()}
    settings = Settings(var_dir=tmp_path / "var")  # type: ignore[call-arg]
    transports = national_record_transports(sqlite_database, settings)
    try:
        assert set(transports) == {f"dmp:{code}" for code in kinds}
        for code, kind in kinds.items():
            expected = MhdNationalRecord if kind == "mhd" else XdsNationalRecord
            assert isinstance(transports[f"dmp:{code}"], expected)
        assert sorted(kinds.values()) == ["mhd", "xds"]
        xds = next(t for t in transports.values() if isinstance(t, XdsNationalRecord))
        assert xds._endpoint == f"{server.url}/xds/iti41"
    finally:
        for t in transports.values():
            t.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("system", "code"),
    [("urn:oid:1.2.250.1.213.3.3.13", "39"), ("urn:oid:1.2.250.1.71.4.2.4", "SA99")],
)
def test_designation_type_outside_jdv_j59_is_refused_by_the_simulator(server: RunningServer, system: str,
                                                                      code: str) -> None:
    cda = sample_cda(unique_id="1.2.250.1.213.1.1.9.98.159")
    data = json.loads(build_bundle(cda, entry_from_cda(cda)).body)
    submission_set = next(e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == "List")
    for ext in submission_set["extension"]:
        if ext["url"].endswith("ihe-designationType"):
            ext["valueCodeableConcept"] = {"coding": [{"system": system, "code": code}]}
    response = httpx.post(f"{server.url}/fhir", content=json.dumps(data), headers={"Content-Type": FHIR_JSON})
    assert response.status_code == 422
    issues = response.json()["issue"]
    assert any(i["details"]["coding"][0]["code"] == "XDSRegistryMetadataError" and "designationType" in
               i["details"].get("text", "") + i.get("diagnostics", "") for i in issues)
    assert _state(server) == []


def test_mhd_carries_the_minor_secret_from_legal_representatives(server: RunningServer) -> None:
    """INVISIBLE_REPRESENTANTS_LEGAUX (JDV_J110) in the bundle's securityLabel, then removed and added again by
    PATCH: the simulator accepts it in both."""
    uid = "1.2.250.1.213.1.1.9.98.119"
    record = MhdNationalRecord(server.url, timeout=10.0)
    try:
        record.submit(Submission(unique_id=uid, cda=sample_cda(unique_id=uid), pdf=b"", kind="frcp",
                                 extra_confidentiality=("INVISIBLE_REPRESENTANTS_LEGAUX",)))
        assert _state(server)[0]["confidentiality"] == ["N", "INVISIBLE_REPRESENTANTS_LEGAUX"]
        assert record.update_legal_representatives_visibility(uid, False).status_code == 200
        assert _state(server)[0]["confidentiality"] == ["N"]
        record.update_legal_representatives_visibility(uid, True)
        assert _state(server)[0]["confidentiality"] == ["N", "INVISIBLE_REPRESENTANTS_LEGAUX"]
    finally:
        record.close()
