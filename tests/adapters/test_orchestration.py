"""The signature event is only an accelerator: without a Prefect server it is skipped, never an error."""

from __future__ import annotations

import pytest

from dcc.adapters.orchestration import emit_documents_signed


def test_no_prefect_server_no_event(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert emit_documents_signed(["d1"]) is False


def test_an_unreachable_server_does_not_fail_the_signature(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")  # nothing listens there
    sent: list[dict[str, object]] = []

    def emit_event(**kw: object) -> None:
        sent.append(kw)
        raise ConnectionError("refused")

    import prefect.events

    monkeypatch.setattr(prefect.events, "emit_event", emit_event)
    assert emit_documents_signed(["d1", "d2"]) is False
    assert sent and sent[0]["event"] == "dcc.documents.signed"
    assert sent[0]["payload"] == {"document_ids": ["d1", "d2"]}  # ids only, never patient data
