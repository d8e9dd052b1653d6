"""Web start-up in production refuses the demo national-record identity (no seal, no trust store) and a
physician-signing configuration without its trust anchor and CRL."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12

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


def test_web_app_refuses_production_without_signing_trust_anchor(database: Database, tmp_path: Path) -> None:
    """A valid national-record identity, but physicians' certificates would be checked against nothing."""
    from tests.adapters.national_record.test_nr_production_identity import PASSWORD, _cert

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = _cert("AC de test", key, "AC de test", key, ca=True)
    seal = _cert("Cachet serveur", key, "AC de test", key, ca=False)
    (tmp_path / "seal.p12").write_bytes(pkcs12.serialize_key_and_certificates(
        b"seal", key, seal, [ca], serialization.BestAvailableEncryption(PASSWORD.encode())))
    (tmp_path / "trust.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    settings = web_settings(env="production", auth_mode="oidc", oidc_client_id="dcc", var_dir=tmp_path / "var",
                            oidc_discovery_url="https://idp.example/.well-known/openid-configuration",
                            dmp_seal_p12=tmp_path / "seal.p12", dmp_seal_p12_password=PASSWORD,
                            dmp_trust_store=tmp_path / "trust.pem", lps_homologation_id="HOMOLOG-1",
                            signer="pkcs11", pkcs11_lib="/usr/lib/softhsm/libsofthsm2.so", pkcs11_token_label="t")
    with pytest.raises(ConfigurationError, match="Configuration de la signature refusée en production") as caught:
        create_app(database=database, settings=settings)
    assert "DCC_SIGNING_TRUST_CA" in caught.value.message and "DCC_SIGNING_CRL" in caught.value.message
