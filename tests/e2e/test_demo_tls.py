"""`dcc demo --dmp-tls`: the simulator serves HTTPS and requires a client certificate from the demo CA; dcc
delivers over mutual TLS (ITI-41 and MHD), checking the simulator's certificate against that CA."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import DemoRun, read_only

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_demo_delivers_over_mutual_tls(demo_run: DemoRun) -> None:
    """The session's demo run (tests/e2e/conftest.py) is run with `--dmp-tls`."""
    var, dump, summary = demo_run.var, demo_run.dump, demo_run.summary
    delivery = summary["stages"]["delivery"]
    assert delivery["dead_letters"] == 0
    delivered = [d for d in summary["documents"] if d["status"] in ("delivered", "superseded")]
    assert delivered and len(delivered) == len(summary["documents"])
    assert {d["unique_id"] for d in delivered} <= {e["unique_id"] for e in summary["national_record"]}
    # both transports went over the TLS connection
    names = [p.name for p in dump.iterdir()]
    assert any(n.endswith("-POST-xds_iti41.http") for n in names) and any(n.endswith("-POST-fhir.http") for n in names)
    with read_only(var / "dcc.sqlite3") as conn:
        regions = conn.execute("select endpoint, code from region").fetchall()
    endpoints, codes = {endpoint for endpoint, _ in regions}, {code for _, code in regions}
    assert endpoints and all(e.startswith("https://127.0.0.1:") for e in endpoints)
    assert (var / "pki" / "tls" / "dmp-client.pem").is_file() and (var / "pki" / "tls" / "dmp-server.pem").is_file()
    # each region connected with its own client certificate (demo CA), naming its sending structure: the
    # simulator recorded which one stored each document (and refuses a VIHF sealed by another structure)
    assert len(codes) >= 2
    for code in codes:
        assert (var / "pki" / "tls" / f"dmp-client-{code.lower()}.pem").is_file()
    clients = {e["tls_client"] for e in summary["national_record"]}
    assert len(clients) == len(codes) and all("OU=1" in c for c in clients), clients
