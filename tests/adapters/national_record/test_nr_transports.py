"""The scenarios both national-record transports must pass, run over each: XDS.b ITI-41 (SOAP/MTOM + VIHF)
and MHD ITI-65 (FHIR), against the DMP simulator on loopback. Transport-specific checks (raw request
format, security-label patch, VIHF) stay in test_nr_xds_transport.py and test_nr_mhd.py."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dcc.adapters.national_record import CodedValue, SenderIdentity, XdsTransport, entry_from_cda
from dcc.adapters.national_record.mhd import MhdTransport
from dcc.errors import DeliveryError, UnknownCode
from dcc.simulator.app import create_app
from dcc.simulator.samples import sample_cda
from dcc.simulator.server import RunningServer, start_in_thread

TRANSPORTS = ["xds", "mhd"]
# HTTP statuses the FHIR interface gives (RESTful errors); ITI-41 answers errors in a RegistryResponse.
MHD_STATUS = {"non_identical": 409}

Factory = Callable[[str, float], Any]


@pytest.fixture(params=TRANSPORTS)
def make_transport(request: pytest.FixtureRequest, identity: SenderIdentity) -> Iterator[Factory]:
    opened: list[XdsTransport | MhdTransport] = []

    def make(base_url: str, timeout: float = 10.0) -> Any:
        transport: XdsTransport | MhdTransport
        if request.param == "xds":
            transport = XdsTransport(f"{base_url}/xds/iti41", identity=identity, timeout=timeout)
        else:
            transport = MhdTransport(base_url, timeout=timeout)
        opened.append(transport)
        return transport

    make.kind = request.param  # type: ignore[attr-defined]
    yield make
    for t in opened:
        t.close()


@pytest.fixture()
def transport(make_transport: Factory, server: RunningServer) -> Any:
    return make_transport(server.url, 10.0)


def _state(server: RunningServer) -> list[dict[str, object]]:
    state: list[dict[str, object]] = httpx.get(f"{server.url}/_state").json()
    return state


def _set_faults(server: RunningServer, spec: str) -> None:
    httpx.post(f"{server.url}/_faults", content=spec.encode()).raise_for_status()


def test_identical_resubmission_is_counted_not_duplicated(server: RunningServer, transport: Any) -> None:
    cda = sample_cda(unique_id="1.2.250.1.213.1.1.9.99.102")
    first = transport.submit(cda, entry_from_cda(cda))
    second = transport.submit(cda, entry_from_cda(cda))
    assert first.submission_set_unique_id != second.submission_set_unique_id
    [stored] = _state(server)
    assert stored["submissions"] == 2
    assert stored["sha256"] == hashlib.sha256(cda).hexdigest()


def test_same_unique_id_with_other_bytes_is_rejected_permanently(
    server: RunningServer, transport: Any, make_transport: Factory
) -> None:
    original = sample_cda(unique_id="1.2.250.1.213.1.1.9.99.103")
    transport.submit(original, entry_from_cda(original))
    altered = sample_cda(unique_id="1.2.250.1.213.1.1.9.99.103", note="Radiothérapie.")
    with pytest.raises(DeliveryError) as caught:
        transport.submit(altered, entry_from_cda(altered))
    assert caught.value.permanent is True
    assert caught.value.error_code == "XDSNonIdenticalHash"
    assert "contenu différent" in caught.value.message
    if make_transport.kind == "mhd":  # type: ignore[attr-defined]
        assert caught.value.status == MHD_STATUS["non_identical"]
    [stored] = _state(server)
    assert stored["sha256"] == hashlib.sha256(original).hexdigest()
    assert stored["submissions"] == 1


def test_unknown_code_is_rejected_before_sending(server: RunningServer, transport: Any, dump_dir: Path) -> None:
    cda = sample_cda(unique_id="1.2.250.1.213.1.1.9.99.104")
    entry = dataclasses.replace(
        entry_from_cda(cda), healthcare_facility_type=CodedValue("SA99", "1.2.250.1.71.4.2.4", "?")
    )
    with pytest.raises(UnknownCode) as caught:
        transport.submit(cda, entry)
    assert caught.value.field == "healthcareFacilityTypeCode"
    assert not list(dump_dir.glob("*-POST-*"))  # nothing reached the simulator
    assert _state(server) == []


def test_replacement_of_unknown_document_is_rejected(
    server: RunningServer, transport: Any, make_transport: Factory
) -> None:
    cda = sample_cda(unique_id="1.2.250.1.213.1.1.9.99.107", replaces="1.2.250.1.213.1.1.9.99.999")
    with pytest.raises(DeliveryError) as caught:
        if make_transport.kind == "mhd":  # type: ignore[attr-defined]
            transport.submit(cda, entry_from_cda(cda))
        else:  # an RPLC to an entryUUID the registry does not hold: XDSRegistryError, as the DMP answers
            transport.submit(cda, entry_from_cda(cda),
                             replaced_entry_uuid="urn:uuid:0c9a4f7e-8d55-4a47-9c55-1d8e2b7f0a11")
    if make_transport.kind == "mhd":  # type: ignore[attr-defined]
        # the ITI-67 search finds no DocumentReference to supersede: refused before any bundle is posted (the
        # simulator's own refusal of an unknown relatesTo target is tested in test_nr_mhd_profile)
        assert (caught.value.permanent, caught.value.error_code) == (True, "document_remplace_inconnu")
        assert caught.value.status == 200
    else:  # transient: the next attempt asks the registry (ITI-18) again, see test_nr_iti57
        assert (caught.value.permanent, caught.value.error_code) == (False, "XDSRegistryError")
    assert _state(server) == []


def test_fault_fail_gives_transient_error(server: RunningServer, transport: Any) -> None:
    _set_faults(server, "fail=1")
    cda = sample_cda(unique_id="1.2.250.1.213.1.1.9.99.110")
    with pytest.raises(DeliveryError) as caught:
        transport.submit(cda, entry_from_cda(cda))
    assert caught.value.permanent is False
    assert caught.value.status == 503
    assert _state(server) == []


def test_drop_after_commit_then_retry_stores_once(server: RunningServer, transport: Any) -> None:
    _set_faults(server, "drop_after_commit=1")
    cda = sample_cda(unique_id="1.2.250.1.213.1.1.9.99.111")
    with pytest.raises(DeliveryError) as caught:
        transport.submit(cda, entry_from_cda(cda))
    assert caught.value.permanent is False
    assert caught.value.error_code == "connexion_interrompue"
    _set_faults(server, "")
    assert transport.submit(cda, entry_from_cda(cda)).status == "Success"  # the outbox retries, same bytes
    [stored] = _state(server)
    assert stored["submissions"] == 2
    assert stored["sha256"] == hashlib.sha256(cda).hexdigest()


def test_outage_sets_retry_after(server: RunningServer, transport: Any) -> None:
    _set_faults(server, "outage_s=30")
    cda = sample_cda(unique_id="1.2.250.1.213.1.1.9.99.112")
    with pytest.raises(DeliveryError) as caught:
        transport.submit(cda, entry_from_cda(cda))
    assert caught.value.permanent is False
    assert caught.value.status == 503
    assert caught.value.retry_after is not None and 1 <= caught.value.retry_after <= 30


def test_connection_refused_is_transient(make_transport: Factory) -> None:
    with start_in_thread(create_app()) as running:
        url = running.url
    cda = sample_cda()
    with pytest.raises(DeliveryError) as caught:
        make_transport(url, 2.0).submit(cda, entry_from_cda(cda))
    assert caught.value.permanent is False
