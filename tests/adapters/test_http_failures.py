"""Every outgoing transport classifies an HTTP failure the same way (transient: retried; permanent: dead
letter), whatever protocol it speaks: ITI-41, ITI-18 / ITI-57 (DMP metadata update), MHD and esignsante.

The answers carry a body no protocol can read (a proxy's HTML page), so only the HTTP status decides."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from dcc.adapters.national_record import SenderIdentity, XdsTransport, entry_from_cda, make_demo_identity
from dcc.adapters.national_record.iti57 import RegistryEntry, XdsMetadataUpdater
from dcc.adapters.national_record.mhd import MhdTransport
from dcc.adapters.signing.esignsante import EsignsanteSigner
from dcc.errors import DeliveryError, SignatureRefused, SigningServiceUnavailable
from dcc.simulator.samples import sample_cda

# Expected classification, written out here (RFC 9110 / 6585 / 8470 meaning of each status).
TRANSIENT = {408, 425, 429, 500, 502, 503, 504}
PERMANENT = {400, 401, 403, 404, 405, 409, 410, 413, 415, 422, 501, 505}
HTML = {"Content-Type": "text/html"}


@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> SenderIdentity:
    return make_demo_identity(tmp_path_factory.mktemp("vihf"), "Centre Hospitalier d'Angers", "1750100125")


def _client(status: int) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(
        lambda request: httpx.Response(status, content=b"<html>proxy</html>", headers=HTML)))


def _iti41(identity: SenderIdentity, status: int) -> None:
    cda = sample_cda()
    XdsTransport("http://dmp.invalid/iti41", identity=identity, client=_client(status)).submit(cda, entry_from_cda(cda))


def _updater(identity: SenderIdentity, status: int) -> XdsMetadataUpdater:
    return XdsMetadataUpdater("http://dmp.invalid/iti57", "http://dmp.invalid/iti18", identity=identity,
                              client=_client(status))


def _iti18(identity: SenderIdentity, status: int) -> None:
    _updater(identity, status).current(entry_from_cda(sample_cda()))


def _iti57(identity: SenderIdentity, status: int) -> None:
    entry = entry_from_cda(sample_cda())
    current = RegistryEntry(entry_uuid="urn:uuid:00000000-0000-4000-8000-000000000001",
                            logical_id="urn:uuid:00000000-0000-4000-8000-000000000001", version="1",
                            status="", unique_id=entry.unique_id, confidentiality=entry.confidentiality)
    _updater(identity, status).send_update(entry, current)


def _mhd(identity: SenderIdentity, status: int) -> None:
    cda = sample_cda()
    MhdTransport("http://dmp.invalid", client=_client(status)).submit(cda, entry_from_cda(cda))


def _esignsante(identity: SenderIdentity, status: int) -> None:
    EsignsanteSigner("http://esignsante.invalid", 1, client=_client(status)).configurations()


TRANSPORTS: dict[str, Callable[[SenderIdentity, int], None]] = {
    "ITI-41": _iti41, "ITI-18": _iti18, "ITI-57": _iti57, "MHD": _mhd, "esignsante": _esignsante,
}


def _outcome(call: Callable[[SenderIdentity, int], None], identity: SenderIdentity, status: int) -> str:
    try:
        call(identity, status)
    except DeliveryError as exc:
        assert exc.status == status
        return "permanent" if exc.permanent else "transient"
    except SigningServiceUnavailable:
        return "transient"
    except SignatureRefused:
        return "permanent"
    return "success"


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
@pytest.mark.parametrize("status", sorted(TRANSIENT | PERMANENT))
def test_one_classification_of_http_failures(identity: SenderIdentity, transport: str, status: int) -> None:
    expected = "transient" if status in TRANSIENT else "permanent"
    assert _outcome(TRANSPORTS[transport], identity, status) == expected


SOAP_FAULT = """<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><s:Fault>
<s:Code><s:Value>s:{code}</s:Value></s:Code><s:Reason><s:Text xml:lang="fr">panne</s:Text></s:Reason></s:Fault>
</s:Body></s:Envelope>"""
REGISTRY_FAILURE = """<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>
<rs:RegistryResponse xmlns:rs="urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
 status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"><rs:RegistryErrorList>
<rs:RegistryError errorCode="{code}" codeContext="contexte"
 severity="urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"/></rs:RegistryErrorList>
</rs:RegistryResponse></s:Body></s:Envelope>"""


def _outcome_json(issue_type: str) -> bytes:
    return (b'{"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "%s", '
            b'"details": {"text": "motif"}}]}' % issue_type.encode())


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (500, SOAP_FAULT.format(code="Receiver"), "transient"),
        (500, SOAP_FAULT.format(code="Sender"), "permanent"),
        (200, REGISTRY_FAILURE.format(code="XDSRegistryBusy"), "transient"),
        (200, REGISTRY_FAILURE.format(code="XDSRegistryMetadataError"), "permanent"),
        (408, REGISTRY_FAILURE.format(code="XDSRegistryMetadataError"), "transient"),
        (400, SOAP_FAULT.format(code="Receiver"), "permanent"),
    ],
)
@pytest.mark.parametrize("transport", ["ITI-41", "ITI-57"])
def test_soap_transports_follow_the_body_where_the_status_leaves_room(
    identity: SenderIdentity, transport: str, status: int, body: str, expected: str
) -> None:
    client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(
        status, content=body.encode(), headers={"Content-Type": "application/soap+xml"})))
    cda = sample_cda()
    entry = entry_from_cda(cda)
    with pytest.raises(DeliveryError) as caught:
        if transport == "ITI-41":
            XdsTransport("http://dmp.invalid/iti41", identity=identity, client=client).submit(cda, entry)
        else:
            updater = XdsMetadataUpdater("http://dmp.invalid/iti57", "http://dmp.invalid/iti18",
                                         identity=identity, client=client)
            updater.send_update(entry, RegistryEntry("urn:uuid:1", "urn:uuid:1", "1", "", entry.unique_id, ()))
    assert ("permanent" if caught.value.permanent else "transient") == expected


@pytest.mark.parametrize(
    ("status", "issue_type", "expected"),
    [(500, "exception", "transient"), (500, "invalid", "permanent"), (409, "lock-error", "transient"),
     (400, "transient", "permanent"), (404, "not-found", "permanent"), (429, "invalid", "transient")],
)
def test_mhd_follows_the_operation_outcome_where_the_status_leaves_room(
    status: int, issue_type: str, expected: str
) -> None:
    client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(
        status, content=_outcome_json(issue_type), headers={"Content-Type": "application/fhir+json"})))
    cda = sample_cda()
    with pytest.raises(DeliveryError) as caught:
        MhdTransport("http://dmp.invalid", client=client).submit(cda, entry_from_cda(cda))
    assert ("permanent" if caught.value.permanent else "transient") == expected
