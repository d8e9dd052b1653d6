"""ITI-57 metadata update over real HTTP on loopback: ITI-18 + ITI-57 against the DMP simulator in a thread."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lxml import etree

from dcc.adapters.national_record import SenderIdentity, XdsTransport, entry_from_cda
from dcc.adapters.national_record.xds import (
    ACTION_ITI57,
    XdsMetadataUpdater,
    build_metadata_update,
    entry_uuid_for,
)
from dcc.bootstrap import XdsNationalRecord, xds_sibling_endpoint
from dcc.domain.ports import Submission
from dcc.errors import DeliveryError
from dcc.simulator.samples import sample_cda
from dcc.simulator.server import RunningServer

STRUCTURE = "1750100125"
UNIQUE_ID = "1.2.250.1.213.1.1.9.99.57"
NS = {
    "soap": "http://www.w3.org/2003/05/soap-envelope",
    "wsa": "http://www.w3.org/2005/08/addressing",
    "lcm": "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0",
    "rim": "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0",
}
CONFIDENTIALITY = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"


@pytest.fixture()
def updater(server: RunningServer, identity: SenderIdentity) -> Iterator[XdsMetadataUpdater]:
    with XdsMetadataUpdater(
        f"{server.url}/xds/iti57", f"{server.url}/xds/iti18", identity=identity, timeout=10.0
    ) as u:
        yield u


def _state(server: RunningServer) -> list[dict[str, object]]:
    state: list[dict[str, object]] = httpx.get(f"{server.url}/_state").json()
    return state


def _submit_invisible(server: RunningServer, identity: SenderIdentity, cda: bytes) -> None:
    entry = entry_from_cda(cda, extra_confidentiality=("INVISIBLE_PATIENT",))
    with XdsTransport(f"{server.url}/xds/iti41", identity=identity, timeout=10.0) as transport:
        transport.submit(cda, entry)


def test_update_makes_the_document_visible_without_resubmission(
    server: RunningServer, identity: SenderIdentity, updater: XdsMetadataUpdater, dump_dir: Path
) -> None:
    cda = sample_cda(unique_id=UNIQUE_ID)
    _submit_invisible(server, identity, cda)
    [before] = _state(server)
    assert before["visible_to_patient"] is False
    assert before["confidentiality"] == ["N", "INVISIBLE_PATIENT"]

    result = updater.update_confidentiality(entry_from_cda(cda), remove=("INVISIBLE_PATIENT",))
    assert result.status == "Success"
    assert result.entry_uuid != entry_uuid_for(UNIQUE_ID)  # a new version has its own entryUUID

    [after] = _state(server)
    assert after["unique_id"] == UNIQUE_ID
    assert after["visible_to_patient"] is True
    assert after["confidentiality"] == ["N"]
    assert after["submissions"] == before["submissions"] == 1
    assert after["sha256"] == before["sha256"]
    assert after["entry_uuid"] == before["entry_uuid"]  # the logicalId

    # The ITI-57 request on the wire: plain SOAP 1.2, a new version (lid = logicalId) with the same
    # uniqueId, PreviousVersion 1 on HasMember, and no document part.
    [iti57] = sorted(dump_dir.glob("*-POST-xds_iti57.http"))
    head, _, body = iti57.read_bytes().partition(b"\r\n\r\n")
    assert b"application/soap+xml" in head and ACTION_ITI57.encode() in head
    envelope = etree.fromstring(body)
    assert envelope.findtext("soap:Header/wsa:Action", namespaces=NS) == ACTION_ITI57
    [obj] = envelope.findall("soap:Body/lcm:SubmitObjectsRequest/rim:RegistryObjectList/rim:ExtrinsicObject", NS)
    assert obj.get("lid") == entry_uuid_for(UNIQUE_ID)
    assert obj.get("id") == result.entry_uuid
    unique_ids = [
        ei.get("value")
        for ei in obj.findall("rim:ExternalIdentifier", NS)
        if ei.get("identificationScheme") == "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
    ]
    assert unique_ids == [UNIQUE_ID]
    codes = [c.get("nodeRepresentation") for c in obj.findall("rim:Classification", NS)
             if c.get("classificationScheme") == CONFIDENTIALITY]
    assert codes == ["N"]
    [member] = envelope.findall("soap:Body/lcm:SubmitObjectsRequest/rim:RegistryObjectList/rim:Association", NS)
    slots = {s.get("name"): s.findtext("rim:ValueList/rim:Value", namespaces=NS)
             for s in member.findall("rim:Slot", NS)}
    assert slots == {"SubmissionSetStatus": "Original", "PreviousVersion": "1"}
    assert b"xop:Include" not in body and b"<ClinicalDocument" not in body


def test_second_update_is_a_no_op_and_later_updates_chain_versions(
    server: RunningServer, identity: SenderIdentity, updater: XdsMetadataUpdater, dump_dir: Path
) -> None:
    cda = sample_cda(unique_id=UNIQUE_ID)
    _submit_invisible(server, identity, cda)
    entry = entry_from_cda(cda)
    updater.update_confidentiality(entry, remove=("INVISIBLE_PATIENT",))
    again = updater.update_confidentiality(entry, remove=("INVISIBLE_PATIENT",))  # retry after a lost answer
    assert again.status == "Unchanged"
    assert len(list(dump_dir.glob("*-POST-xds_iti57.http"))) == 1

    updater.update_confidentiality(entry, add=("MASQUE_PS",))  # version 2 -> 3, visibility kept
    current = updater.current(entry)
    assert current is not None and current.version == "3"
    assert current.confidentiality_codes == ("N", "MASQUE_PS")
    [doc] = _state(server)
    assert doc["visible_to_patient"] is True and doc["submissions"] == 1


def test_stale_previous_version_is_refused_and_transient(
    server: RunningServer, identity: SenderIdentity, updater: XdsMetadataUpdater
) -> None:
    cda = sample_cda(unique_id=UNIQUE_ID)
    _submit_invisible(server, identity, cda)
    entry = entry_from_cda(cda)
    stale = updater.current(entry)
    assert stale is not None
    updater.update_confidentiality(entry, remove=("INVISIBLE_PATIENT",))
    with pytest.raises(DeliveryError) as caught:
        updater.send_update(entry, stale)  # names version 1, the registry is at 2
    assert caught.value.error_code == "XDSMetadataVersionError" and not caught.value.permanent


def test_unknown_document_is_a_permanent_error(
    server: RunningServer, updater: XdsMetadataUpdater
) -> None:
    with pytest.raises(DeliveryError) as caught:
        updater.update_confidentiality(
            entry_from_cda(sample_cda(unique_id="1.2.3.4.404")), remove=("INVISIBLE_PATIENT",)
        )
    assert caught.value.permanent and caught.value.error_code == "document_inconnu_du_dmp"


def test_update_with_other_bytes_hash_is_refused(
    server: RunningServer, identity: SenderIdentity, updater: XdsMetadataUpdater
) -> None:
    cda = sample_cda(unique_id=UNIQUE_ID)
    _submit_invisible(server, identity, cda)
    current = updater.current(entry_from_cda(cda))
    assert current is not None
    other = entry_from_cda(sample_cda(unique_id=UNIQUE_ID, note="autre contenu"))  # same uniqueId, other hash
    with pytest.raises(DeliveryError) as caught:
        updater.send_update(other, current)
    assert caught.value.permanent and caught.value.error_code == "XDSRepositoryMetadataError"
    [doc] = _state(server)
    assert doc["visible_to_patient"] is False


def test_envelope_builder_keeps_the_unique_id(identity: SenderIdentity) -> None:
    entry = entry_from_cda(sample_cda(unique_id=UNIQUE_ID))
    envelope = build_metadata_update(
        entry, identity=identity, endpoint="http://dmp.example/xds/iti57", message_id="urn:uuid:m",
        submission_set_unique_id="2.25.1", logical_id="urn:uuid:lid", previous_version="4",
        new_entry_uuid="urn:uuid:new",
    )
    [obj] = envelope.findall(".//rim:ExtrinsicObject", NS)
    assert (obj.get("id"), obj.get("lid")) == ("urn:uuid:new", "urn:uuid:lid")


def test_fault_injection_applies_to_iti57(
    server: RunningServer, identity: SenderIdentity, updater: XdsMetadataUpdater
) -> None:
    cda = sample_cda(unique_id=UNIQUE_ID)
    _submit_invisible(server, identity, cda)
    httpx.post(f"{server.url}/_faults", content=b"fail=1").raise_for_status()
    with pytest.raises(DeliveryError) as caught:
        updater.update_confidentiality(entry_from_cda(cda), remove=("INVISIBLE_PATIENT",))
    assert not caught.value.permanent and caught.value.status == 503


def test_xds_national_record_update_visibility_and_masking(
    server: RunningServer, identity: SenderIdentity, tmp_path: Path
) -> None:
    cda = sample_cda(unique_id=UNIQUE_ID)
    record = XdsNationalRecord(
        server.url, identity_dir=tmp_path / "id", structure_name="Centre Hospitalier d'Angers",
        structure_id_nat=STRUCTURE, cda_lookup={UNIQUE_ID: cda}.get, identity=identity,
    )
    try:
        _submit_invisible(server, identity, cda)
        outcome = record.update_visibility(UNIQUE_ID, True)
        assert outcome.status_code == 200
        assert record.update_masking(UNIQUE_ID, True).status_code == 200
        [doc] = _state(server)
        assert doc["visible_to_patient"] is True
        assert doc["confidentiality"] == ["N", "MASQUE_PS"]
        assert doc["submissions"] == 1
        record.update_masking(UNIQUE_ID, False)
        record.update_visibility(UNIQUE_ID, False)
        [doc] = _state(server)
        assert doc["confidentiality"] == ["N", "INVISIBLE_PATIENT"]
        with pytest.raises(DeliveryError) as caught:
            record.update_visibility("1.2.3.4.404", True)
        assert caught.value.permanent and caught.value.error_code == "document_introuvable"
    finally:
        record.close()


def test_sibling_endpoints() -> None:
    assert xds_sibling_endpoint("http://h:1/xds/iti41", "/xds/iti57") == "http://h:1/xds/iti57"
    assert xds_sibling_endpoint("https://dmp/si-dmp-server/v2/services/repository", "/xds/iti57") == (
        "https://dmp/si-dmp-server/v2/services/iti57"
    )


def test_replacement_targets_the_entry_uuid_the_registry_gives_after_an_update(
    server: RunningServer, identity: SenderIdentity, tmp_path: Path, dump_dir: Path
) -> None:
    """RPLC (CI-SIS TD2.1): the target is the entryUUID an ITI-18 query returns; after an ITI-57 update the
    current version's entryUUID is not the one the document was first submitted with."""
    v1 = sample_cda(unique_id=UNIQUE_ID)
    v2 = sample_cda(unique_id=UNIQUE_ID + ".2", replaces=UNIQUE_ID, note="v2")
    record = XdsNationalRecord(
        server.url, identity_dir=tmp_path / "id", structure_name="Centre Hospitalier d'Angers",
        structure_id_nat=STRUCTURE, cda_lookup={UNIQUE_ID: v1}.get, identity=identity,
    )
    try:
        _submit_invisible(server, identity, v1)
        record.update_visibility(UNIQUE_ID, True)  # ITI-57: a new version with its own entryUUID
        with XdsTransport(f"{server.url}/xds/iti41", identity=identity, timeout=10.0) as transport:
            with pytest.raises(DeliveryError) as stale:  # the first version's entryUUID is no longer current
                transport.submit(v2, entry_from_cda(v2), replaced_entry_uuid=entry_uuid_for(UNIQUE_ID))
            assert stale.value.error_code == "XDSRegistryError"
        record.submit(Submission(unique_id=UNIQUE_ID + ".2", cda=v2, pdf=b"", kind="FRCP",
                                 replaces_unique_id=UNIQUE_ID))
        state = {d["unique_id"]: d for d in _state(server)}
        assert state[UNIQUE_ID]["replaced_by"] == UNIQUE_ID + ".2"
        rplc = [a for f in sorted(dump_dir.glob("*-POST-xds_iti41.http")) for a in _rplc_targets(f.read_bytes())]
        assert rplc[-1] != entry_uuid_for(UNIQUE_ID)  # the registry's current entryUUID, found by ITI-18
        with pytest.raises(DeliveryError) as unknown:  # nothing to replace: refused before any ITI-41
            record.submit(Submission(unique_id="1.2.3.4.9", cda=sample_cda(unique_id="1.2.3.4.9",
                                     replaces="1.2.3.4.404"), pdf=b"", kind="FRCP", replaces_unique_id="1.2.3.4.404"))
        assert unknown.value.permanent and unknown.value.error_code == "document_remplace_inconnu"
    finally:
        record.close()


def _rplc_targets(body: bytes) -> list[str]:
    pattern = rb'associationType="urn:ihe:iti:2007:AssociationType:RPLC"[^>]*targetObject="([^"]+)"'
    return [m.decode() for m in re.findall(pattern, body)]
