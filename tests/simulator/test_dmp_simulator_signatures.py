"""The simulator checks the signatures as the DMP does, against its trust store (not the certificate the request
carries): the VIHF (inside its validity window, with the agency's version and attributes; refusals are SOAP
faults with their WS-Security code) and the submission set's XAdES signature document (refusals are
XDSRegistryError in the RegistryResponse). Nothing is stored when a request is refused."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree

from dcc.adapters.national_record import SenderIdentity, entry_from_cda, make_demo_identity
from dcc.adapters.national_record import iti41 as iti41_module
from dcc.adapters.national_record import vihf as vihf_module
from dcc.adapters.national_record.xds import build_envelope, pack_mtom, submission_signature
from dcc.adapters.signing.pki import init_demo_pki
from dcc.simulator.app import create_app
from dcc.simulator.samples import sample_cda
from dcc.simulator.server import RunningServer, start_in_thread
from tests.simulator.test_dmp_simulator import _post, _soap

SOAP = "http://www.w3.org/2003/05/soap-envelope"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
STRUCTURE = "1750100125"


@pytest.fixture(scope="module")
def ca_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("trusted-ca")


@pytest.fixture(scope="module")
def identity(ca_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> SenderIdentity:
    return make_demo_identity(tmp_path_factory.mktemp("seal"), "Centre Hospitalier d'Angers", STRUCTURE,
                              ca_dir=ca_dir)


@pytest.fixture()
def server(ca_dir: Path) -> Iterator[RunningServer]:
    with start_in_thread(create_app(trust_store=ca_dir / "ca.pem"), log_level="critical") as running:
        yield running


def _fault(response: httpx.Response) -> tuple[str, str]:
    soap = _soap(response)
    return (soap.findtext(f".//{{{SOAP}}}Subcode/{{{SOAP}}}Value") or "",
            soap.findtext(f".//{{{SOAP}}}Reason/{{{SOAP}}}Text") or "")


def _stored(server: RunningServer) -> list[dict]:
    return httpx.get(f"{server.url}/_state", timeout=10).json()


def _send(server: RunningServer, identity: SenderIdentity, unique_id: str) -> httpx.Response:
    cda = sample_cda(unique_id=unique_id)
    return _post(server, identity, cda, entry_from_cda(cda))


def _seal(directory: Path, ca_dir: Path, *, not_before: dt.datetime, not_after: dt.datetime) -> SenderIdentity:
    """A seal certificate issued by the trusted CA with the given validity (PEM key and certificate)."""
    pki = init_demo_pki(ca_dir, [])
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Centre Hospitalier d'Angers"),
                         x509.NameAttribute(NameOID.COMMON_NAME, "Cachet expiré")])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(pki.ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(pki.ca_key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = directory / "key.pem", directory / "cert.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return SenderIdentity(id_nat=STRUCTURE, name="Centre Hospitalier d'Angers", key_path=key_path,
                          cert_path=cert_path)


def test_signer_issued_by_the_trusted_ca_is_accepted(server: RunningServer, identity: SenderIdentity) -> None:
    response = _send(server, identity, "1.2.250.1.213.1.1.9.97.1")
    assert response.status_code == 200
    assert len(_stored(server)) == 1


def test_signer_from_another_ca_is_refused(server: RunningServer, tmp_path: Path) -> None:
    # same names as the trusted demo CA, another key: the simulator does not trust it
    stranger = make_demo_identity(tmp_path / "other", "Centre Hospitalier d'Angers", STRUCTURE)
    response = _send(server, stranger, "1.2.250.1.213.1.1.9.97.2")
    assert response.status_code == 400
    code, reason = _fault(response)
    assert code == "wsse:FailedAuthentication"
    assert "Signataire du VIHF refusé" in reason
    assert _stored(server) == []


def test_self_signed_signer_is_refused(server: RunningServer, tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Auto-signé")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    self_signed = SenderIdentity(id_nat=STRUCTURE, name="X", key_path=tmp_path / "key.pem",
                                 cert_path=tmp_path / "cert.pem")
    response = _send(server, self_signed, "1.2.250.1.213.1.1.9.97.3")
    assert (response.status_code, _fault(response)[0]) == (400, "wsse:FailedAuthentication")
    assert _stored(server) == []


def test_expired_signer_is_refused(server: RunningServer, ca_dir: Path, tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    expired = _seal(tmp_path / "expired", ca_dir, not_before=now - dt.timedelta(days=400),
                    not_after=now - dt.timedelta(days=1))
    response = _send(server, expired, "1.2.250.1.213.1.1.9.97.4")
    code, reason = _fault(response)
    assert (response.status_code, code) == (400, "wsse:FailedAuthentication")
    assert "expiré" in reason
    assert _stored(server) == []


def test_trusted_certificate_swapped_into_a_foreign_signature_is_refused(
        server: RunningServer, identity: SenderIdentity, tmp_path: Path) -> None:
    """A request signed by another key but carrying the trusted seal certificate: the signature is checked
    with that certificate's key and fails."""
    stranger = make_demo_identity(tmp_path / "other", "Centre Hospitalier d'Angers", STRUCTURE)
    trusted_b64 = base64.b64encode(x509.load_pem_x509_certificate(identity.cert_pem()).public_bytes(
        serialization.Encoding.DER)).decode()

    def swap(envelope: etree._Element) -> None:
        cert = envelope.find(f".//{{{SAML}}}Assertion/{{{DS}}}Signature/{{{DS}}}KeyInfo/{{{DS}}}X509Data/"
                             f"{{{DS}}}X509Certificate")
        assert cert is not None
        cert.text = trusted_b64
        issuer = envelope.find(f".//{{{SAML}}}Assertion/{{{SAML}}}Issuer")
        assert issuer is not None
        issuer.text = x509.load_pem_x509_certificate(identity.cert_pem()).subject.rfc4514_string()

    cda = sample_cda(unique_id="1.2.250.1.213.1.1.9.97.5")
    response = _post(server, stranger, cda, entry_from_cda(cda), edit_envelope=swap)
    assert (response.status_code, _fault(response)[0]) == (400, "wsse:FailedCheck")
    assert _stored(server) == []


def test_wrong_vihf_version_is_refused(server: RunningServer, identity: SenderIdentity,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vihf_module, "VIHF_VERSION", "3.0")  # signed, but the former version
    response = _send(server, identity, "1.2.250.1.213.1.1.9.97.6")
    code, reason = _fault(response)
    assert (response.status_code, code) == (400, "wsse:InvalidSecurityToken")
    assert "VIHF_Version « 3.0 » (attendu 4.0)" in reason
    assert _stored(server) == []


def test_vihf_outside_its_validity_window_is_refused(server: RunningServer, identity: SenderIdentity,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vihf_module, "VALIDITY", dt.timedelta(minutes=-10))  # NotOnOrAfter 10 min ago
    response = _send(server, identity, "1.2.250.1.213.1.1.9.97.7")
    assert (response.status_code, _fault(response)[0]) == (400, "wsse:MessageExpired")
    assert _stored(server) == []


def test_missing_subject_id_is_refused(server: RunningServer, identity: SenderIdentity,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # the former attribute name (xacml 1.0) instead of the mapping table's xspa subject-id
    monkeypatch.setattr(vihf_module, "SUBJECT_ID", "urn:oasis:names:tc:xacml:1.0:subject:subject-id")
    response = _send(server, identity, "1.2.250.1.213.1.1.9.97.8")
    code, reason = _fault(response)
    assert (response.status_code, code) == (400, "wsse:InvalidSecurityToken")
    assert "urn:oasis:names:tc:xspa:1.0:subject:subject-id absent" in reason


def test_without_trust_store_every_signed_request_is_refused(identity: SenderIdentity) -> None:
    with start_in_thread(create_app(), log_level="critical") as running:
        response = _send(running, identity, "1.2.250.1.213.1.1.9.97.9")
        code, reason = _fault(response)
        assert (response.status_code, code) == (400, "wsse:FailedAuthentication")
        assert "aucun magasin de confiance" in reason


# --- the submission set's XAdES signature document (IHE DSG) -----------------------------------------------


def _post_lot(server: RunningServer, identity: SenderIdentity, cda: bytes,
              signature: tuple[SenderIdentity, bytes] | None) -> httpx.Response:
    """An ITI-41 request whose VIHF is signed by `identity` and whose signature document is made by
    `signature[0]` over `signature[1]` (None: no signature document)."""
    entry = entry_from_cda(cda)
    cid = f"doc.{uuid.uuid4().hex}@test"
    extra: list[tuple[str, bytes, str]] = []
    sig = None
    if signature is not None:
        sig_entry, sig_bytes, sig_cid = submission_signature(signature[0], signature[1], entry)
        sig, extra = (sig_entry, sig_cid), [(sig_cid, sig_bytes, "text/xml")]
    envelope = build_envelope(entry, identity=identity, endpoint=f"{server.url}/xds/iti41", document_cid=cid,
                              message_id=f"urn:uuid:{uuid.uuid4()}",
                              submission_set_unique_id=f"2.25.{uuid.uuid4().int}", signature=sig)
    soap = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
    body, content_type = pack_mtom(soap, cda, document_cid=cid, mime_type="text/xml", extra=extra)
    return httpx.post(f"{server.url}/xds/iti41", content=body, headers={"Content-Type": content_type})


def _registry_errors(response: httpx.Response) -> list[tuple[str, str]]:
    assert response.status_code == 200
    registry = _soap(response).find(f".//{{{RS}}}RegistryResponse")
    assert registry is not None and registry.get("status", "").endswith(":Failure")
    return [(e.get("errorCode", ""), e.get("codeContext", "")) for e in registry.iter(f"{{{RS}}}RegistryError")]


def test_unsigned_submission_set_is_refused(server: RunningServer, identity: SenderIdentity) -> None:
    cda = sample_cda(unique_id="1.2.250.1.213.1.1.9.97.20")
    [(code, context)] = _registry_errors(_post_lot(server, identity, cda, None))
    assert code == "XDSRegistryError" and "non signé" in context
    assert _stored(server) == []


def test_submission_set_signed_by_an_untrusted_seal_is_refused(server: RunningServer, identity: SenderIdentity,
                                                               tmp_path: Path) -> None:
    stranger = make_demo_identity(tmp_path / "other", "Centre Hospitalier d'Angers", STRUCTURE)
    cda = sample_cda(unique_id="1.2.250.1.213.1.1.9.97.21")
    [(code, context)] = _registry_errors(_post_lot(server, identity, cda, (stranger, cda)))
    assert code == "XDSRegistryError" and "signataire du lot refusé" in context
    assert _stored(server) == []


def test_submission_set_signed_by_an_expired_seal_is_refused(server: RunningServer, identity: SenderIdentity,
                                                             ca_dir: Path, tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    expired = _seal(tmp_path / "expired", ca_dir, not_before=now - dt.timedelta(days=400),
                    not_after=now - dt.timedelta(days=1))
    cda = sample_cda(unique_id="1.2.250.1.213.1.1.9.97.22")
    [(code, context)] = _registry_errors(_post_lot(server, identity, cda, (expired, cda)))
    assert code == "XDSRegistryError" and "expiré" in context
    assert _stored(server) == []


def test_signature_over_other_bytes_is_refused(server: RunningServer, identity: SenderIdentity) -> None:
    cda = sample_cda(unique_id="1.2.250.1.213.1.1.9.97.23")
    other = sample_cda(unique_id="1.2.250.1.213.1.1.9.97.23", note="autre version")
    [(code, context)] = _registry_errors(_post_lot(server, identity, cda, (identity, other)))
    assert code == "XDSRegistryError" and "≠ celle signée dans le lot" in context
    assert _stored(server) == []


def test_tampered_signature_document_is_refused(server: RunningServer, identity: SenderIdentity,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The Manifest edited after signing (digest of other bytes): the XAdES signature no longer verifies."""
    from dcc.adapters.national_record import dsg

    sign = dsg.sign_submission_set
    other = sample_cda(unique_id="1.2.250.1.213.1.1.9.97.24", note="autre version")

    def tampered(identity: SenderIdentity, documents: list[tuple[str, bytes]]) -> bytes:
        signed = sign(identity, documents)
        good = base64.b64encode(hashlib.sha256(documents[0][1]).digest())
        return signed.replace(good, base64.b64encode(hashlib.sha256(other).digest()))

    monkeypatch.setattr(iti41_module, "sign_submission_set", tampered)
    cda = sample_cda(unique_id="1.2.250.1.213.1.1.9.97.24")
    errors = _registry_errors(_post_lot(server, identity, cda, (identity, cda)))
    assert [code for code, _ in errors] == ["XDSRegistryError"]
    assert "signature XAdES du lot invalide" in errors[0][1]
    assert _stored(server) == []
