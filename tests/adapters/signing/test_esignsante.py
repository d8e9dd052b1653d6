"""Remote signing through the esignsante API, against the local stand-in over real HTTP on loopback."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from dcc.adapters.rendering import PdfRenderer
from dcc.adapters.signing import init_demo_pki, verify_pdf
from dcc.adapters.signing.esignsante import (
    EsignsanteSigner,
    SigningServiceUnavailable,
    conf_for_physician,
    dn_id_nat,
)
from dcc.adapters.signing.pki import DemoPki
from dcc.errors import SignatureRefused
from dcc.simulator.esignsante import create_esignsante_app
from dcc.simulator.server import RunningServer, start_in_thread

MARTIN = ("Claire Martin", "810000000001")
BERNARD = ("Luc Bernard", "810000000002")
SECRET = "dcc-secret_42"
HTML = (
    '<html lang="fr"><head><title>Fiche RCP</title></head><body><h1>Fiche RCP</h1>'
    "<p>Patiente LEFÈVRE Marie, proposition de chimiothérapie.</p></body></html>"
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DemoPki:
    return init_demo_pki(tmp_path_factory.mktemp("pki"), [MARTIN, BERNARD])


@pytest.fixture(scope="module")
def unsigned() -> bytes:
    return PdfRenderer(variant="pdf/a-1b").html_to_pdf(HTML)


@pytest.fixture(scope="module")
def service(pki: DemoPki) -> Iterator[RunningServer]:
    """Configuration 1 signs with Martin's certificate, 2 with Bernard's, 3 with an expired one."""
    now = datetime.now(UTC)
    expired = pki.issue(*MARTIN, not_before=now - timedelta(days=400), not_after=now - timedelta(days=1),
                        filename="expired-martin", register=False)
    martin, bernard = pki.credential(MARTIN[1]), pki.credential(BERNARD[1])
    app = create_esignsante_app(
        p12_path=martin.p12_path, passphrase=martin.passphrase, conf_id=1, secret=SECRET,
        ca_path=pki.ca_path, crl_path=pki.crl_path,
        more_credentials={2: (bernard.p12_path, bernard.passphrase), 3: (expired.p12_path, expired.passphrase)},
    )
    with start_in_thread(app) as server:
        yield server


def signer(service: RunningServer, pki: DemoPki, conf_id: int = 1, **kw: object) -> EsignsanteSigner:
    kw.setdefault("secret", SECRET)
    kw.setdefault("id_nat", MARTIN[1])
    return EsignsanteSigner(service.url, conf_id, trust_ca=pki.ca_path, crl=pki.crl_path,
                            **kw)  # type: ignore[arg-type]


def sign(s: EsignsanteSigner, pdf: bytes) -> bytes:
    return s.sign(pdf, signer_name="Dr Claire MARTIN", reason="Validation de la fiche RCP", location="Angers")


def faults(service: RunningServer, *items: dict[str, object]) -> None:
    httpx.post(f"{service.url}/_faults", json=list(items)).raise_for_status()


def test_sign_and_verify(service: RunningServer, pki: DemoPki, unsigned: bytes) -> None:
    signed = sign(signer(service, pki), unsigned)
    assert signed.startswith(unsigned)
    result = verify_pdf(signed, trust_roots=[pki.ca_path])
    assert result.ok, result
    assert result.signer_id_nat == MARTIN[1] and result.signer_name == "Claire Martin"
    assert not result.timestamped  # level B only
    last = httpx.get(f"{service.url}/_state").json()["requests"][-1]
    assert last["idSignConf"] == "1" and last["secret"] and "application/json" in last["accept"]


def test_configurations_and_ca(service: RunningServer, pki: DemoPki) -> None:
    s = signer(service, pki)
    confs = s.configurations()
    assert {c["idSignConf"] for c in confs["signature"]} == {1, 2, 3}
    assert conf_for_physician(confs, BERNARD[1]) == 2
    assert conf_for_physician(confs, "899999999999") is None
    assert conf_for_physician(confs, MARTIN[1]) is None  # two configurations (1 and 3): ambiguous
    cas = httpx.get(f"{service.url}/ca", headers={"Accept": "application/json"}).json()
    assert cas and "AC de d" in cas[0]


def test_accept_header_is_required(service: RunningServer) -> None:
    # Like the real service: 501 unless the client accepts application/json.
    assert httpx.get(f"{service.url}/configurations", headers={"Accept": "*/*"}).status_code == 501


def test_dn_id_nat_formats() -> None:
    assert dn_id_nat("CN=Claire Martin,2.5.4.5=810000000001,O=x") == "810000000001"
    assert dn_id_nat("SERIALNUMBER=810000000001, CN=Claire Martin") == "810000000001"
    hex_der = "#130c" + b"810000000001".hex()  # Java RFC 2253: PrintableString in hex
    assert dn_id_nat(f"CN=Claire Martin,2.5.4.5={hex_der}") == "810000000001"
    assert dn_id_nat("CN=Cachet serveur,O=CHU") == ""


def test_configuration_of_another_physician_is_refused_before_sending(
        service: RunningServer, pki: DemoPki, unsigned: bytes) -> None:
    before = len(httpx.get(f"{service.url}/_state").json()["requests"])
    with pytest.raises(SignatureRefused, match="pas celui du médecin signataire attendu"):
        sign(signer(service, pki, conf_id=2), unsigned)
    assert len(httpx.get(f"{service.url}/_state").json()["requests"]) == before  # nothing sent


def test_returned_signer_is_checked(service: RunningServer, pki: DemoPki, unsigned: bytes) -> None:
    # A configuration whose DN hides the id: only the returned signature can tell.
    s = signer(service, pki, conf_id=2)
    s._conf_dn = "CN=Cachet"
    with pytest.raises(SignatureRefused, match="pas au médecin signataire attendu"):
        sign(s, unsigned)


def test_unknown_configuration(service: RunningServer, pki: DemoPki, unsigned: bytes) -> None:
    with pytest.raises(SignatureRefused, match="n'existe pas"):
        sign(signer(service, pki, conf_id=99), unsigned)
    s = signer(service, pki, conf_id=99)
    s._conf_dn = ""  # skip the pre-check: the service itself answers 404
    with pytest.raises(SignatureRefused, match="inconnue du service.*HTTP 404"):
        sign(s, unsigned)


def test_wrong_secret(service: RunningServer, pki: DemoPki, unsigned: bytes) -> None:
    with pytest.raises(SignatureRefused, match="secret d'accès refusé.*HTTP 401"):
        sign(signer(service, pki, secret="mauvais"), unsigned)


def test_service_certificate_expired_is_503(service: RunningServer, pki: DemoPki, unsigned: bytes) -> None:
    with pytest.raises(SigningServiceUnavailable, match="HTTP 503") as err:
        sign(signer(service, pki, conf_id=3), unsigned)
    assert err.value.status_code == 503


def test_not_a_pdf_is_501(service: RunningServer, pki: DemoPki) -> None:
    with pytest.raises(SignatureRefused, match="non pris en charge.*HTTP 501"):
        sign(signer(service, pki), b"pas un PDF")


def test_erreurs_in_report(service: RunningServer, pki: DemoPki, unsigned: bytes) -> None:
    faults(service, {"erreurs": [{"codeErreur": "ERR_SIGN_01", "message": "Certificat invalide"}]})
    with pytest.raises(SignatureRefused, match="ERR_SIGN_01 : Certificat invalide"):
        sign(signer(service, pki), unsigned)


def test_tampered_document_is_refused(service: RunningServer, pki: DemoPki, unsigned: bytes) -> None:
    faults(service, {"tamper": True})
    with pytest.raises(SignatureRefused, match="ne conserve pas à l'identique"):
        sign(signer(service, pki), unsigned)


def test_invalid_base64(service: RunningServer, pki: DemoPki, unsigned: bytes) -> None:
    faults(service, {"not_base64": True})
    with pytest.raises(SignatureRefused, match="base64"):
        sign(signer(service, pki), unsigned)


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_transient(service: RunningServer, pki: DemoPki, unsigned: bytes, status: int) -> None:
    faults(service, {"status": status})
    with pytest.raises(SigningServiceUnavailable):
        sign(signer(service, pki), unsigned)


def test_unreachable_service_is_transient(pki: DemoPki, unsigned: bytes) -> None:
    s = EsignsanteSigner("http://127.0.0.1:9", 1, timeout=2.0)
    with pytest.raises(SigningServiceUnavailable, match="injoignable"):
        sign(s, unsigned)


def test_revoked_service_certificate_detected_on_answer(tmp_path_factory: pytest.TempPathFactory,
                                                        unsigned: bytes) -> None:
    # The service does not check revocation (no CRL configured there): the client's CRL refuses it.
    pki = init_demo_pki(tmp_path_factory.mktemp("pki-revoked"), [MARTIN])
    cred = pki.credential(MARTIN[1])
    app = create_esignsante_app(p12_path=cred.p12_path, passphrase=cred.passphrase)
    pki.revoke(cred.serial_number)
    with start_in_thread(app) as server:
        s = EsignsanteSigner(server.url, 1, id_nat=MARTIN[1], trust_ca=pki.ca_path, crl=pki.crl_path)
        with pytest.raises(SignatureRefused, match="révoqué"):
            sign(s, unsigned)


def test_returned_document_is_base64_pdf_with_one_more_signature(
        service: RunningServer, pki: DemoPki, unsigned: bytes) -> None:
    # Raw exchange, as documented: multipart form in, JSON report out.
    resp = httpx.post(f"{service.url}/signatures/padesbaselineb", headers={"Accept": "application/json"},
                      data={"idSignConf": "1", "secret": SECRET},
                      files={"file": ("doc.pdf", unsigned, "application/pdf")})
    assert resp.status_code == 200
    report = resp.json()
    assert report["erreurs"] == []
    assert base64.b64decode(report["docSigne"]).startswith(unsigned)
    assert httpx.post(f"{service.url}/signatures/padesbaselineb", headers={"Accept": "application/json"},
                      data={"secret": SECRET}).status_code == 400


def test_signer_directory_esignsante(service: RunningServer, pki: DemoPki, unsigned: bytes,
                                     tmp_path: Path) -> None:
    from dcc.bootstrap import DemoSignerDirectory, EsignsanteSignerDirectory, signer_directory
    from dcc.config import Settings

    assert isinstance(signer_directory(Settings(env="test", var_dir=tmp_path)), DemoSignerDirectory)
    settings = Settings(env="test", var_dir=tmp_path, pki_dir=pki.directory, signer="esignsante",
                        esignsante_url=service.url, esignsante_secret=SECRET)
    directory = signer_directory(settings)
    assert isinstance(directory, EsignsanteSignerDirectory)
    # No DCC_ESIGNSANTE_CONF_ID: the configuration whose certificate names the physician (Bernard: 2).
    signed = directory.signer_for(id_nat=BERNARD[1], name="Luc Bernard").sign(
        unsigned, signer_name="Dr Luc BERNARD", reason="r", location="l")
    assert verify_pdf(signed, trust_roots=[pki.ca_path]).signer_id_nat == BERNARD[1]
    with pytest.raises(SignatureRefused, match="aucune configuration esignsante"):
        directory.signer_for(id_nat=MARTIN[1], name="Claire Martin")  # two configurations name Martin
    directory.close()
    fixed = signer_directory(settings.model_copy(update={"esignsante_conf_id": 1}))
    assert verify_pdf(sign(fixed.signer_for(id_nat=MARTIN[1], name="Claire Martin"), unsigned),  # type: ignore[arg-type]
                      trust_roots=[pki.ca_path]).ok
