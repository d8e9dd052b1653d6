"""Web start-up in production refuses the demo national-record identity (no seal, no trust store)."""

from __future__ import annotations

import pytest

from dcc.errors import ConfigurationError
from dcc.services.uow import Database
from dcc.web.app import create_app
from tests.web.helpers_web import web_settings


def test_web_app_refuses_production_without_seal_or_trust_store(database: Database) -> None:
    settings = web_settings(env="production", auth_mode="oidc", oidc_client_id="dcc",
                            oidc_discovery_url="https://idp.example/.well-known/openid-configuration")
    with pytest.raises(ConfigurationError, match="Configuration refusée en production") as caught:
        create_app(database=database, settings=settings)
    assert "DCC_DMP_SEAL_P12" in caught.value.message
    assert "DCC_DMP_TRUST_STORE" in caught.value.message
    assert "DCC_LPS_HOMOLOGATION_ID" in caught.value.message
