"""The simulator's `--tls` mode: HTTPS with a client certificate from the demo CA required, as the DMP's
endpoints require. dcc's national-record client (bootstrap.dmp_http_client) connects with the configured
client certificate and checks the server against DCC_DMP_TRUST_STORE; anything else is refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dcc.adapters.national_record.xds import SenderIdentity, make_demo_identity
from dcc.adapters.signing.pki import init_demo_pki
from dcc.bootstrap import XdsNationalRecord, dmp_http_client
from dcc.config import Settings
from dcc.demo.tls import demo_tls
from dcc.domain.ports import Submission
from dcc.simulator.app import create_app
from dcc.simulator.samples import sample_cda
from dcc.simulator.server import RunningServer, start_in_thread
from dcc.simulator.tls import SimulatorTls


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> SimulatorTls:
    return demo_tls(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> SenderIdentity:
    return make_demo_identity(tmp_path_factory.mktemp("vihf"), "CH d'Angers", "1750100125")


@pytest.fixture()
def server(tls: SimulatorTls, identity: SenderIdentity) -> Iterator[RunningServer]:
    # the simulator trusts the demo CA that issued the sender's seal certificate
    with start_in_thread(create_app(trust_store=identity.trust_anchor), tls=tls) as running:
        yield running


def _settings(tls: SimulatorTls, **kw: object) -> Settings:
    fields: dict[str, object] = {"env": "test", "dmp_tls_cert": tls.client_cert, "dmp_tls_key": tls.client_key,
                                 "dmp_trust_store": tls.ca}
    fields.update(kw)
    return Settings(**fields)  # type: ignore[arg-type]


def test_mutual_tls_client_reaches_the_simulator_and_delivers(server: RunningServer, tls: SimulatorTls,
                                                              identity: SenderIdentity, tmp_path: Path) -> None:
    assert server.url.startswith("https://127.0.0.1:")
    with dmp_http_client(_settings(tls)) as client:
        assert client.get(f"{server.url}/_state").json() == []
    cda = sample_cda()
    record = XdsNationalRecord(server.url, identity_dir=tmp_path / "id", structure_name="CH d'Angers",
                               structure_id_nat="1750100125", identity=identity,
                               client=dmp_http_client(_settings(tls)))
    try:
        outcome = record.submit(Submission(unique_id="", cda=cda, pdf=b"", kind="FRCP"))
    finally:
        record.close()
    assert outcome.status_code == 200
    with dmp_http_client(_settings(tls)) as client:
        [stored] = client.get(f"{server.url}/_state").json()
    assert stored["submissions"] == 1


def test_a_client_without_certificate_is_refused_in_the_handshake(server: RunningServer, tls: SimulatorTls) -> None:
    with dmp_http_client(_settings(tls, dmp_tls_cert=None, dmp_tls_key=None)) as client:
        with pytest.raises(httpx.TransportError):
            client.get(f"{server.url}/_state")


def test_a_client_certificate_from_another_ca_is_refused(server: RunningServer, tls: SimulatorTls,
                                                         tmp_path: Path) -> None:
    other = init_demo_pki(tmp_path / "other", [], ca_name="Autre AC")
    cert, key = other.issue_tls("intrus", server=False, stem="intrus")
    with dmp_http_client(_settings(tls, dmp_tls_cert=cert, dmp_tls_key=key)) as client:
        with pytest.raises(httpx.TransportError):
            client.get(f"{server.url}/_state")


def test_dcc_refuses_a_server_its_trust_store_does_not_anchor(server: RunningServer, tls: SimulatorTls,
                                                              tmp_path: Path) -> None:
    other = init_demo_pki(tmp_path / "other", [], ca_name="Autre AC")
    with dmp_http_client(_settings(tls, dmp_trust_store=other.ca_path)) as client:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            client.get(f"{server.url}/_state")


def test_plain_http_gets_no_answer(server: RunningServer) -> None:
    with pytest.raises(httpx.TransportError):
        httpx.get(server.url.replace("https://", "http://") + "/_state", timeout=5)


def test_cli_tls_serves_https_requiring_a_demo_ca_client_certificate(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import ssl

    from dcc.cli import simulator as cli
    from dcc.config import get_settings

    seen: dict[str, object] = {}
    monkeypatch.setattr(cli.uvicorn, "run", lambda app, **kw: seen.update(kw))
    monkeypatch.setenv("DCC_PKI_DIR", str(tmp_path / "pki"))
    get_settings.cache_clear()
    try:
        cli.dmp_simulator(host="127.0.0.1", port=8443, faults="", dump=None, tls=True)
    finally:
        get_settings.cache_clear()
    assert seen["ssl_cert_reqs"] == ssl.CERT_REQUIRED
    assert seen["ssl_ca_certs"] == str(tmp_path / "pki" / "ca.pem")
    assert Path(str(seen["ssl_certfile"])).is_file() and Path(str(seen["ssl_keyfile"])).is_file()
    printed = capsys.readouterr().out
    assert "https://127.0.0.1:8443/xds/iti41" in printed
    assert f"DCC_DMP_TLS_CERT={tmp_path / 'pki' / 'tls' / 'dmp-client.pem'}" in printed
