"""PAdES B-T over real HTTP: `DCC_TSA_URL` pointing at the local RFC 3161 time-stamping authority."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from asn1crypto import core, tsp

from dcc.adapters.rendering import PdfRenderer
from dcc.adapters.signing import Pkcs12Signer, init_demo_pki, verify_pdf
from dcc.adapters.signing.pki import DemoPki
from dcc.bootstrap import DemoSignerDirectory
from dcc.errors import SigningServiceUnavailable
from dcc.simulator.server import RunningServer, start_in_thread
from dcc.simulator.tsa import QUERY, REPLY, create_app
from tests import pdfsig as pdfsig_tool

MARTIN = ("Claire Martin", "810000000001")
HTML = ('<html lang="fr"><head><title>Fiche RCP</title></head><body><h1>Fiche RCP</h1>'
        '<div id="dcc-signature" style="width:80mm;height:28mm"></div></body></html>')
KW = {"signer_name": "Dr Claire MARTIN", "reason": "Validation de la fiche RCP", "location": "CHU d'Angers"}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DemoPki:
    return init_demo_pki(tmp_path_factory.mktemp("pki"), [MARTIN])


@pytest.fixture(scope="module")
def tsa(pki: DemoPki) -> Iterator[RunningServer]:
    cert, key = pki.issue_tsa()
    with start_in_thread(create_app(cert, key), log_level="critical") as server:
        yield server


@pytest.fixture(scope="module")
def unsigned() -> bytes:
    return PdfRenderer(variant="pdf/a-1b").html_to_pdf(HTML)


def issued(tsa: RunningServer) -> int:
    return int(httpx.get(f"{tsa.url}/_state", timeout=10).json()["issued"])


def test_signature_is_time_stamped_by_the_configured_authority(pki: DemoPki, tsa: RunningServer,
                                                               unsigned: bytes, tmp_path: Path) -> None:
    before = issued(tsa)
    cred = pki.credential(MARTIN[1])
    signer = Pkcs12Signer(cred.p12_path, cred.passphrase, id_nat=MARTIN[1], trust_ca=pki.ca_path,
                          crl=pki.crl_path, tsa_url=f"{tsa.url}/")
    pdf = signer.sign(unsigned, **KW)
    assert issued(tsa) == before + 1  # one token, over HTTP
    result = verify_pdf(pdf, trust_roots=[pki.ca_path])
    assert result.ok and result.timestamped, result
    untimed = Pkcs12Signer(cred.p12_path, cred.passphrase, id_nat=MARTIN[1], trust_ca=pki.ca_path,
                           crl=pki.crl_path).sign(unsigned, **KW)
    assert not verify_pdf(untimed, trust_roots=[pki.ca_path]).timestamped  # B-B without a TSA


@pytest.mark.skipif(not pdfsig_tool.available(), reason=pdfsig_tool.SKIP_REASON)
def test_time_stamped_signature_passes_pdfsig(pki: DemoPki, tsa: RunningServer, unsigned: bytes,
                                              tmp_path: Path) -> None:
    cred = pki.credential(MARTIN[1])
    pdf = Pkcs12Signer(cred.p12_path, cred.passphrase, id_nat=MARTIN[1], trust_ca=pki.ca_path,
                       crl=pki.crl_path, tsa_url=f"{tsa.url}/").sign(unsigned, **KW)
    nss = pdfsig_tool.nss_database(tmp_path / "nss", trust_roots=[pki.ca_path])
    report = pdfsig_tool.pdfsig(pdf, nss_dir=nss, workdir=tmp_path)
    assert report.ok, report.output


def test_demo_signer_directory_uses_the_tsa_setting(pki: DemoPki, tsa: RunningServer, unsigned: bytes) -> None:
    """The path the application takes: settings.tsa_url → the signer directory → B-T signatures."""
    before = issued(tsa)
    directory = DemoSignerDirectory(pki.directory, tsa_url=f"{tsa.url}/")
    pdf = directory.signer_for(id_nat=MARTIN[1], name=MARTIN[0]).sign(unsigned, **KW)
    assert issued(tsa) == before + 1
    assert verify_pdf(pdf, trust_roots=[pki.ca_path]).timestamped


def test_unreachable_authority_refuses_in_plain_words(pki: DemoPki, unsigned: bytes) -> None:
    cred = pki.credential(MARTIN[1])
    signer = Pkcs12Signer(cred.p12_path, cred.passphrase, id_nat=MARTIN[1], trust_ca=pki.ca_path,
                          crl=pki.crl_path, tsa_url="http://127.0.0.1:9/")  # discard port: nothing listens
    with pytest.raises(SigningServiceUnavailable, match="autorité d'horodatage") as err:
        signer.sign(unsigned, **KW)
    assert err.value.status_code == 503


def test_authority_speaks_rfc3161(tsa: RunningServer) -> None:
    assert httpx.post(f"{tsa.url}/", content=b"x", headers={"Content-Type": "text/plain"}).status_code == 415
    bad = httpx.post(f"{tsa.url}/", content=b"\x30\x03\x02\x01", headers={"Content-Type": QUERY})
    assert bad.status_code == 200 and bad.headers["content-type"] == REPLY
    status = tsp.PKIStatusInfo.load(core.Sequence.load(bad.content)[0].dump())  # a status, no token
    assert status["status"].native == "rejection" and "bad_data_format" in status["fail_info"].native
