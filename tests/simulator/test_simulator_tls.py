"""The simulator's `--tls` mode: HTTPS with a client certificate from the demo CA required, as the DMP's
endpoints require. dcc's national-record client (bootstrap.dmp_http_client) connects with the configured
client certificate and checks the server against DCC_DMP_TRUST_STORE; anything else is refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from dcc.adapters.national_record.xds import SenderIdentity, make_demo_identity
from dcc.adapters.signing.pki import init_demo_pki
from dcc.bootstrap import XdsNationalRecord, dmp_http_client
from dcc.config import Settings
from dcc.demo.tls import demo_tls
from dcc.domain.ports import Submission
from dcc.errors import DeliveryError
from dcc.services.uow import Database
from dcc.simulator.app import create_app
from dcc.simulator.samples import sample_cda
from dcc.simulator.server import RunningServer, start_in_thread
from dcc.simulator.tls import SimulatorTls

# two regions' sending structures: each has its seal (VIHF) and its TLS client certificate, both naming it
STRUCTURES = {"PDL": ("CH d'Angers", "1750100125"), "BRE": ("CHU de Rennes", "1350000013")}


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> SimulatorTls:
    return demo_tls(tmp_path_factory.mktemp("pki"), structures=STRUCTURES)


@pytest.fixture(scope="module")
def identities(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SenderIdentity]:
    base = tmp_path_factory.mktemp("vihf")
    return {code: make_demo_identity(base / code, name, id_nat, ca_dir=base)
            for code, (name, id_nat) in STRUCTURES.items()}


@pytest.fixture(scope="module")
def identity(identities: dict[str, SenderIdentity]) -> SenderIdentity:
    return identities["PDL"]


@pytest.fixture()
def server(tls: SimulatorTls, identity: SenderIdentity) -> Iterator[RunningServer]:
    # the simulator trusts the demo CA that issued the senders' seal certificates
    with start_in_thread(create_app(trust_store=identity.trust_anchor), tls=tls) as running:
        yield running


def _settings(tls: SimulatorTls, **kw: object) -> Settings:
    fields: dict[str, object] = {"env": "test", "dmp_tls_cert": tls.client_cert, "dmp_tls_key": tls.client_key,
                                 "dmp_trust_store": tls.ca,
                                 "dmp_tls_by_region": {code: {"cert": cert, "key": key}
                                                       for code, (cert, key) in tls.regions.items()}}
    fields.update(kw)
    return Settings(**fields)  # type: ignore[arg-type]


def _submit(url: str, settings: Settings, region: str, identity: SenderIdentity, tmp_path: Path,
            cda: bytes | None = None) -> int:
    """Region `region`'s connection (its TLS client certificate) sends a VIHF sealed by `identity`."""
    name, id_nat = STRUCTURES[region]
    record = XdsNationalRecord(url, identity_dir=tmp_path / "id", structure_name=name, structure_id_nat=id_nat,
                               identity=identity, client=dmp_http_client(settings, region))
    try:
        return record.submit(Submission(unique_id="", cda=cda or sample_cda(), pdf=b"", kind="FRCP")).status_code or 0
    finally:
        record.close()


def test_mutual_tls_client_reaches_the_simulator_and_delivers(server: RunningServer, tls: SimulatorTls,
                                                              identity: SenderIdentity, tmp_path: Path) -> None:
    assert server.url.startswith("https://127.0.0.1:")
    with dmp_http_client(_settings(tls)) as client:
        assert client.get(f"{server.url}/_state").json() == []
    assert _submit(server.url, _settings(tls), "PDL", identity, tmp_path) == 200
    with dmp_http_client(_settings(tls)) as client:
        [stored] = client.get(f"{server.url}/_state").json()
    assert stored["submissions"] == 1
    # the simulator tells which region connected: the DN of the region's own client certificate
    assert "OU=1750100125" in stored["tls_client"] and "CH d'Angers" in stored["tls_client"]


def test_each_region_connects_with_its_own_certificate(tls: SimulatorTls) -> None:
    settings = _settings(tls)
    assert set(tls.regions) == {"PDL", "BRE"}
    assert settings.tls_client_for("PDL") == tls.regions["PDL"]
    assert settings.tls_client_for("BRE") == tls.regions["BRE"]
    assert settings.tls_client_for("ARA") == (tls.client_cert, tls.client_key)  # no own: the default one
    for code, (name, id_nat) in STRUCTURES.items():
        subject = x509.load_pem_x509_certificate(tls.regions[code][0].read_bytes()).subject
        assert subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == id_nat
        assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == name


def test_region_a_certificate_cannot_submit_as_region_b(server: RunningServer, tls: SimulatorTls,
                                                         identities: dict[str, SenderIdentity],
                                                         tmp_path: Path) -> None:
    settings = _settings(tls)
    # BRE's VIHF (sealed by BRE's structure) over PDL's TLS connection: refused, nothing stored
    with pytest.raises(DeliveryError, match="Connexion TLS refusée pour ce VIHF") as caught:
        _submit(server.url, settings, "PDL", identities["BRE"], tmp_path)
    assert "1350000013" in caught.value.message and "1750100125" in caught.value.message
    # the generic client certificate names no structure: refused too
    with pytest.raises(DeliveryError, match="structure « non renseignée »"):
        _submit(server.url, _settings(tls, dmp_tls_by_region={}), "BRE", identities["BRE"], tmp_path)
    with dmp_http_client(settings) as client:
        assert client.get(f"{server.url}/_state").json() == []
    # BRE's VIHF over BRE's own connection goes through
    assert _submit(server.url, settings, "BRE", identities["BRE"], tmp_path) == 200
    with dmp_http_client(settings) as client:
        [stored] = client.get(f"{server.url}/_state").json()
    assert "OU=1350000013" in stored["tls_client"]


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


def test_cli_tls_issues_one_client_certificate_per_region_of_the_database(
        database: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from dcc.cli import simulator as cli
    from dcc.config import get_settings
    from dcc.services.seed import seed_directory

    with database.uow() as uow:
        regions = seed_directory(uow, seed=1, regions=2).regions
        uow.commit()
    monkeypatch.setattr(cli.uvicorn, "run", lambda app, **kw: None)
    monkeypatch.setenv("DCC_PKI_DIR", str(tmp_path / "pki"))
    monkeypatch.setenv("DCC_DATABASE_URL", database.url)
    get_settings.cache_clear()
    try:
        cli.dmp_simulator(host="127.0.0.1", port=8443, faults="", dump=None, tls=True)
    finally:
        get_settings.cache_clear()
    [line] = [x for x in capsys.readouterr().out.splitlines() if x.strip().startswith("DCC_DMP_TLS_BY_REGION=")]
    by_region = json.loads(line.strip().removeprefix("DCC_DMP_TLS_BY_REGION="))
    assert set(by_region) == set(regions) and len(regions) == 2
    units = {x509.load_pem_x509_certificate(Path(v["cert"]).read_bytes()).subject
             .get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value for v in by_region.values()}
    assert len(units) == 2 and all(u.startswith("1") and len(u) == 10 for u in units)
