"""Input that no handler should ever see: NUL bytes, out-of-range numbers. Always a French 4xx, never a 500."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


@pytest.mark.parametrize("url", [
    "/api/v1/cases/a%00b", "/api/v1/boards/a%00b", "/api/v1/sessions?board=a%00b", "/api/v1/audit?patient=a%00b",
])
def test_nul_bytes_are_refused_with_422(client: TestClient, url: str) -> None:
    r = client.get(url)
    assert r.status_code == 422
    assert r.json()["code"] == "donnee_invalide"
    assert "nul" in r.json()["message"]


def test_an_absurd_offset_is_a_validation_error(client: TestClient) -> None:
    r = client.get("/api/v1/deliveries", params={"limit": 10, "offset": 9223372036854775808})
    assert r.status_code == 422
    assert r.json()["code"] == "donnee_invalide"
