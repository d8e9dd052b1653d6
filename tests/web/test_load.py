"""A bounded load on a real server (uvicorn on loopback, a few seconds, SQLite file and PostgreSQL on CI):
no 5xx, no timeout, and afterwards an intact audit chain holding every case read that was served.
No timing assertion: the figures are `dcc bench web`'s business."""

from __future__ import annotations

from dcc.bench.web import run
from dcc.services.uow import Database


def test_concurrent_reads_and_writes_leave_no_error_and_every_read_in_an_intact_chain(database: Database) -> None:
    workers = 2 if database.engine.dialect.name == "postgresql" else 1  # as deploy/ runs uvicorn
    result = run(16, 4.0, database_url=database.url, workers=workers, patients=12)

    assert result["requests"] > 0
    assert result["server_errors"] == 0, (result["statuses"], result["server_log_tail"])
    assert result["timeouts"] == 0 and "connection_error" not in result["statuses"], result["statuses"]
    ok = {k: v for k, v in result["statuses"].items() if k.startswith("2")}
    assert sum(ok.values()) == result["requests"], result["statuses"]
    assert result["per_operation"]["case_read"]["n"] > 0
    assert any(op.endswith("_write") for op in result["per_operation"]), result["per_operation"]
    audit = result["audit"]
    assert audit["chain_intact"], audit["problems"]
    assert audit["pending_after_stop"] == 0  # the server's sealer sealed everything at shutdown
    assert audit["case_reads_served"] > 0
    assert audit["case_reads_missing_in_trail"] == 0
