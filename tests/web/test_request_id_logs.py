"""JSON logs with a request correlation id (issue 14 "Logs"): the id the answer carries in X-Request-ID is
on every line written while serving the request; a proxy's id is kept, a malformed one replaced."""

from __future__ import annotations

import io
import json
import logging

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from dcc.logging import configure_logging, get_logger, log_format
from dcc.web.edge import Edge


@pytest.fixture
def logs() -> io.StringIO:
    buf = io.StringIO()
    configure_logging("INFO", fmt="json", stream=buf)
    yield buf
    configure_logging("INFO", fmt="console")


def _client() -> TestClient:
    def hello(_: object) -> PlainTextResponse:
        get_logger("dcc.test").info("served", document_id="doc-1", family="DUPONT")
        logging.getLogger("third.party").warning("stdlib line")
        return PlainTextResponse("ok")

    registry = CollectorRegistry()
    return TestClient(Edge(Starlette(routes=[Route("/", hello)]),
                           requests=Counter("r", "r", ["method", "route", "status"], registry=registry),
                           latency=Histogram("d", "d", ["method", "route"], registry=registry)))


def test_every_line_of_a_request_carries_its_id(logs: io.StringIO) -> None:
    answer = _client().get("/")
    rid = answer.headers["x-request-id"]
    lines = [json.loads(line) for line in logs.getvalue().splitlines()]
    served = [e for e in lines if e.get("event") == "served"]
    stdlib = [e for e in lines if e.get("event") == "stdlib line"]
    assert len(served) == 1 and len(stdlib) == 1
    assert served[0]["request_id"] == rid == stdlib[0]["request_id"] and len(rid) == 32
    assert served[0]["document_id"] == "doc-1" and served[0]["level"] == "info"
    assert "DUPONT" not in logs.getvalue()  # an identity key's value is dropped


def test_proxy_request_id_is_kept_and_a_bad_one_replaced(logs: io.StringIO) -> None:
    client = _client()
    assert client.get("/", headers={"X-Request-ID": "nginx-0123456789abcdef"}).headers["x-request-id"] \
        == "nginx-0123456789abcdef"
    bad = client.get("/", headers={"X-Request-ID": "a b<script>"}).headers["x-request-id"]
    assert bad != "a b<script>" and len(bad) == 32
    first, second = client.get("/").headers["x-request-id"], client.get("/").headers["x-request-id"]
    assert first != second


@pytest.mark.parametrize(("env", "fmt", "expected"), [
    ("production", "", "json"), ("development", "", "console"), ("development", "json", "json"),
    ("production", "console", "console"), ("test", "JSON", "json"),
])
def test_log_format_choice(env: str, fmt: str, expected: str) -> None:
    assert log_format(env=env, fmt=fmt) == expected
