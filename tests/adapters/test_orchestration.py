"""The signature event is only an accelerator: without a Prefect server it is skipped, and a Prefect server
that is down never fails the signature (Prefect's own events worker gives up and logs)."""

from __future__ import annotations

import socket

import pytest

from dcc.adapters.orchestration import emit_documents_signed


def test_no_prefect_server_no_event(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert emit_documents_signed(["d1"]) is False


def test_nothing_signed_no_event(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    assert emit_documents_signed([]) is False


def _closed_port() -> int:
    with socket.socket() as s:  # bound then closed: nothing listens there afterwards
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_prefect_server_that_is_down_does_not_fail_the_signature(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real prefect.events.emit_event, against a URL where no server listens: no exception reaches the
    caller (the signature is already committed; the scheduled run delivers anyway)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    url = f"http://127.0.0.1:{_closed_port()}/api"
    monkeypatch.setenv("PREFECT_API_URL", url)
    with temporary_settings({PREFECT_API_URL: url}):
        handed_over = emit_documents_signed(["d1", "d2"])
    assert handed_over is True  # handed to Prefect's events worker, which finds the server down and logs it


def test_the_validation_event_is_skipped_without_a_server_or_without_documents_due(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from dcc.adapters.orchestration import emit_session_validated

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert emit_session_validated("s1", 3) is False
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    assert emit_session_validated("s1", 0) is False  # a non-quorate session: nothing to generate


def test_a_prefect_server_that_is_down_does_not_fail_the_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    """The validation is committed with its rows; the event is an accelerator (the schedule catches up)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from dcc.adapters.orchestration import emit_session_validated

    url = f"http://127.0.0.1:{_closed_port()}/api"
    monkeypatch.setenv("PREFECT_API_URL", url)
    with temporary_settings({PREFECT_API_URL: url}):
        assert emit_session_validated("s1", 2) is True
