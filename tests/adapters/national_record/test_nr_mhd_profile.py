"""PDSm profile constraints of the MHD bundles (canonical code systems, securityLabel slices bound to
JDV_J110, replacement with `relatesTo` plus the `superseded` update), on both sides: what the adapter sends,
and what the simulator refuses (OperationOutcome 422, as the DMP does for a binding it violates)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from dcc.adapters.national_record import entry_from_cda
from dcc.adapters.national_record.mhd import FHIR_JSON, MhdTransport, build_bundle
from dcc.simulator.samples import sample_cda
from dcc.simulator.server import RunningServer
from tests.pdsm_profile import TRE_A07, V3_CONFIDENTIALITY, pdsm_violations

CLASS_URL = "https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument"
FACILITY_URL = "https://mos.esante.gouv.fr/NOS/TRE_R02-SecteurActivite/FHIR/TRE-R02-SecteurActivite"


def _bundle(unique_id: str, **kwargs: Any) -> dict[str, Any]:
    cda = sample_cda(unique_id=unique_id)
    data: dict[str, Any] = json.loads(build_bundle(cda, entry_from_cda(cda, **kwargs)).body)
    return data


def _post(server: RunningServer, bundle: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.url}/fhir", content=json.dumps(bundle).encode(),
                      headers={"Content-Type": FHIR_JSON}, timeout=10)


def _document(bundle: dict[str, Any]) -> dict[str, Any]:
    [doc] = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "DocumentReference"]
    return doc


def _issues(response: httpx.Response) -> str:
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    return " | ".join(f"{i['details']['coding'][0]['code']}: {i['details']['text']}" for i in outcome["issue"])


def test_bundle_uses_canonical_systems_and_j110_labels() -> None:
    bundle = _bundle("1.2.250.1.213.1.1.9.97.1", extra_confidentiality=("INVISIBLE_PATIENT", "MASQUE_PS"))
    assert pdsm_violations(bundle) == []
    doc = _document(bundle)
    assert doc["category"][0]["coding"][0]["system"] == CLASS_URL
    assert doc["context"]["facilityType"]["coding"][0]["system"] == FACILITY_URL
    assert doc["type"]["coding"][0]["system"] == "http://loinc.org"
    assert [(c["system"], c["code"]) for label in doc["securityLabel"] for c in label["coding"]] == [
        (V3_CONFIDENTIALITY, "N"), (TRE_A07, "INVISIBLE_PATIENT"), (TRE_A07, "MASQUE_PS")
    ]
    assert "urn:oid:1.2.250.1.213" not in json.dumps([doc["type"], doc["category"], doc["securityLabel"]])


def test_simulator_accepts_the_bundle(server: RunningServer) -> None:
    response = _post(server, _bundle("1.2.250.1.213.1.1.9.97.2"))
    assert response.status_code == 200, response.text


def test_simulator_refuses_urn_oid_for_a_system_with_a_canonical_url(server: RunningServer) -> None:
    bundle = _bundle("1.2.250.1.213.1.1.9.97.3")
    _document(bundle)["category"][0]["coding"][0]["system"] = "urn:oid:1.2.250.1.213.1.1.4.1"
    response = _post(server, bundle)
    assert response.status_code == 422
    assert "urn:oid:1.2.250.1.213.1.1.4.1" in _issues(response) and CLASS_URL in _issues(response)
    assert httpx.get(f"{server.url}/_state").json() == []


def test_simulator_refuses_urn_oid_on_the_designation_type(server: RunningServer) -> None:
    bundle = _bundle("1.2.250.1.213.1.1.9.97.4")
    [submission_set] = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "List"]
    [designation] = [x for x in submission_set["extension"] if x["url"].endswith("ihe-designationType")]
    designation["valueCodeableConcept"]["coding"][0]["system"] = "urn:oid:1.2.250.1.71.4.2.4"
    response = _post(server, bundle)
    assert response.status_code == 422
    assert FACILITY_URL in _issues(response)


def test_simulator_refuses_a_label_outside_j110(server: RunningServer) -> None:
    bundle = _bundle("1.2.250.1.213.1.1.9.97.5")
    _document(bundle)["securityLabel"].append({"coding": [{"system": TRE_A07, "code": "INVISIBLE_VOISINS"}]})
    response = _post(server, bundle)
    assert response.status_code == 422
    assert "INVISIBLE_VOISINS" in _issues(response) and "JDV_J110" in _issues(response)


def test_simulator_refuses_a_j110_code_from_another_system(server: RunningServer) -> None:
    bundle = _bundle("1.2.250.1.213.1.1.9.97.6")
    _document(bundle)["securityLabel"].append({"coding": [{"system": V3_CONFIDENTIALITY, "code": "MASQUE_PS"}]})
    assert _post(server, bundle).status_code == 422


def test_simulator_refuses_two_confidentiality_levels(server: RunningServer) -> None:
    bundle = _bundle("1.2.250.1.213.1.1.9.97.7")
    _document(bundle)["securityLabel"].append({"coding": [{"system": V3_CONFIDENTIALITY, "code": "R"}]})
    response = _post(server, bundle)
    assert response.status_code == 422
    assert "un et un seul niveau" in _issues(response)


def _replacement(transport: MhdTransport, old_uid: str, new_uid: str) -> dict[str, Any]:
    v1 = sample_cda(unique_id=old_uid)
    transport.submit(v1, entry_from_cda(v1))
    v2 = sample_cda(unique_id=new_uid, replaces=old_uid, note="v2")
    replaced = transport.find_document(old_uid)
    data: dict[str, Any] = json.loads(build_bundle(v2, entry_from_cda(v2), replaced=replaced).body)
    return data


def test_replacement_bundle_supersedes_the_old_reference(server: RunningServer) -> None:
    with MhdTransport(server.url, timeout=10.0) as transport:
        bundle = _replacement(transport, "1.2.250.1.213.1.1.9.97.10", "1.2.250.1.213.1.1.9.97.11")
        assert pdsm_violations(bundle) == []
        puts = [e for e in bundle["entry"] if e["request"]["method"] == "PUT"]
        assert len(puts) == 1 and puts[0]["resource"]["status"] == "superseded"
        assert _post(server, bundle).status_code == 200
        old = transport.find_document("1.2.250.1.213.1.1.9.97.10")
        assert old.resource["status"] == "superseded"
        assert transport.find_document("1.2.250.1.213.1.1.9.97.11").resource["status"] == "current"


def test_simulator_refuses_a_replacement_of_an_unknown_reference(server: RunningServer) -> None:
    with MhdTransport(server.url, timeout=10.0) as transport:
        bundle = _replacement(transport, "1.2.250.1.213.1.1.9.97.20", "1.2.250.1.213.1.1.9.97.21")
    unknown = "0c9a4f7e-8d55-4a47-9c55-1d8e2b7f0a11"
    [put] = [e for e in bundle["entry"] if e["request"]["method"] == "PUT"]
    put["request"]["url"], put["resource"]["id"] = f"DocumentReference/{unknown}", unknown
    [doc] = [e["resource"] for e in bundle["entry"] if e["request"]["method"] == "POST"
             and e["resource"]["resourceType"] == "DocumentReference"]
    doc["relatesTo"][0]["target"]["reference"] = f"DocumentReference/{unknown}"
    response = _post(server, bundle)
    assert response.status_code == 422
    assert "XDSRegistryError" in _issues(response) and "inconnu" in _issues(response)
    state = {d["unique_id"]: d for d in httpx.get(f"{server.url}/_state").json()}
    assert set(state) == {"1.2.250.1.213.1.1.9.97.20"} and state["1.2.250.1.213.1.1.9.97.20"]["replaced_by"] is None


def test_simulator_refuses_a_replacement_without_the_superseded_update(server: RunningServer) -> None:
    with MhdTransport(server.url, timeout=10.0) as transport:
        bundle = _replacement(transport, "1.2.250.1.213.1.1.9.97.30", "1.2.250.1.213.1.1.9.97.31")
    bundle["entry"] = [e for e in bundle["entry"] if e["request"]["method"] != "PUT"]
    response = _post(server, bundle)
    assert response.status_code == 422
    assert "superseded" in _issues(response)


def test_simulator_refuses_an_update_that_is_not_superseded(server: RunningServer) -> None:
    with MhdTransport(server.url, timeout=10.0) as transport:
        bundle = _replacement(transport, "1.2.250.1.213.1.1.9.97.40", "1.2.250.1.213.1.1.9.97.41")
    [put] = [e for e in bundle["entry"] if e["request"]["method"] == "PUT"]
    put["resource"]["status"] = "current"
    response = _post(server, bundle)
    assert response.status_code == 422
    assert "superseded" in _issues(response)


def test_simulator_refuses_a_relates_to_naming_another_document(server: RunningServer) -> None:
    with MhdTransport(server.url, timeout=10.0) as transport:
        other = sample_cda(unique_id="1.2.250.1.213.1.1.9.97.52")
        transport.submit(other, entry_from_cda(other))
        bundle = _replacement(transport, "1.2.250.1.213.1.1.9.97.50", "1.2.250.1.213.1.1.9.97.51")
    [doc] = [e["resource"] for e in bundle["entry"] if e["request"]["method"] == "POST"
             and e["resource"]["resourceType"] == "DocumentReference"]
    doc["relatesTo"][0]["target"]["identifier"]["value"] = "urn:oid:1.2.250.1.213.1.1.9.97.52"
    response = _post(server, bundle)
    assert response.status_code == 422
    assert "n'est pas le document" in _issues(response)


def test_security_label_patch_is_checked_against_the_bindings(server: RunningServer) -> None:
    with MhdTransport(server.url, timeout=10.0) as transport:
        cda = sample_cda(unique_id="1.2.250.1.213.1.1.9.97.60")
        transport.submit(cda, entry_from_cda(cda))
        url = f"{server.url}/fhir/DocumentReference/{transport.find_document('1.2.250.1.213.1.1.9.97.60').resource_id}"
        headers = {"Content-Type": "application/json-patch+json"}

        def patch(labels: list[tuple[str, str]]) -> httpx.Response:
            value = [{"coding": [{"system": system, "code": code}]} for system, code in labels]
            return httpx.patch(url, content=json.dumps([{"op": "replace", "path": "/securityLabel", "value": value}]),
                               headers=headers, timeout=10)

        assert patch([("urn:oid:2.16.840.1.113883.5.25", "N")]).status_code == 422
        assert patch([(V3_CONFIDENTIALITY, "N"), (TRE_A07, "INVISIBLE_VOISINS")]).status_code == 422
        assert patch([(V3_CONFIDENTIALITY, "N"), (TRE_A07, "MASQUE_PS")]).status_code == 200
        assert transport.security_labels("1.2.250.1.213.1.1.9.97.60") == ("N", "MASQUE_PS")
        [label] = [c for lab in transport.find_document("1.2.250.1.213.1.1.9.97.60").resource["securityLabel"]
                   for c in lab["coding"] if c["code"] == "MASQUE_PS"]
        assert label["system"] == TRE_A07  # the simulator answers with the canonical URL too


def test_simulator_refuses_a_superseding_update_of_a_stale_version(server: RunningServer) -> None:
    with MhdTransport(server.url, timeout=10.0) as transport:
        bundle = _replacement(transport, "1.2.250.1.213.1.1.9.97.70", "1.2.250.1.213.1.1.9.97.71")
    [put] = [e for e in bundle["entry"] if e["request"]["method"] == "PUT"]
    assert put["resource"]["meta"]["versionId"] == "1"  # as read from the DMP (PDSm constr-cdr-maj)
    put["resource"]["meta"]["versionId"] = "7"
    response = _post(server, bundle)
    assert response.status_code == 422 and "version" in _issues(response)
    del put["resource"]["meta"]
    response = _post(server, bundle)
    assert response.status_code == 422 and "meta.versionId" in _issues(response)
