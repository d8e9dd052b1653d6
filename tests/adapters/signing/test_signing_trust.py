"""Production start-up refuses a physician-signing configuration without a trust anchor and CRL
(DCC_SIGNING_TRUST_CA / DCC_SIGNING_CRL), and the demo PKCS#12 files; outside production nothing is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from dcc.adapters.signing.pki import init_demo_pki
from dcc.bootstrap import check_production_signing, signer_directory
from dcc.config import Settings
from dcc.errors import ConfigurationError


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    pki = init_demo_pki(tmp_path_factory.mktemp("ca"), [])
    return pki.ca_path, pki.crl_path


def _settings(tmp_path: Path, **kw: object) -> Settings:
    fields: dict[str, object] = {"env": "production", "var_dir": tmp_path, "signer": "esignsante",
                                 "esignsante_url": "https://esignsante.example"}
    fields.update(kw)
    return Settings(**fields)  # type: ignore[arg-type]


def test_production_with_trust_anchor_and_crl_starts(tmp_path: Path, ca: tuple[Path, Path]) -> None:
    settings = _settings(tmp_path, signing_trust_ca=ca[0], signing_crl=ca[1])
    check_production_signing(settings)
    directory = signer_directory(settings)
    assert (directory.trust_ca, directory.crl) == ca  # type: ignore[attr-defined]


@pytest.mark.parametrize(("overrides", "messages"), [
    ({}, ["autorité de certification des signataires absente (DCC_SIGNING_TRUST_CA)",
          "liste de révocation des signataires absente (DCC_SIGNING_CRL)"]),
    ({"signing_crl": "CRL"}, ["autorité de certification des signataires absente (DCC_SIGNING_TRUST_CA)"]),
    ({"signing_trust_ca": "CA"}, ["liste de révocation des signataires absente (DCC_SIGNING_CRL)"]),
    ({"signing_trust_ca": Path("/nonexistent/ca.pem"), "signing_crl": "CRL"},
     ["autorité de certification des signataires absente (DCC_SIGNING_TRUST_CA)"]),
    ({"signing_trust_ca": "CA", "signing_crl": "garbage"},
     ["liste de révocation des signataires illisible (DCC_SIGNING_CRL"]),
    ({"signer": "pkcs12", "signing_trust_ca": "CA", "signing_crl": "CRL"},
     ["signature par fichiers PKCS#12 de démonstration (DCC_SIGNER=pkcs12)"]),
])
def test_production_refuses(tmp_path: Path, ca: tuple[Path, Path], overrides: dict[str, object],
                            messages: list[str]) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("pas une liste de révocation", encoding="utf-8")
    named = {"CA": ca[0], "CRL": ca[1], "garbage": garbage}
    settings = _settings(tmp_path, **{k: named.get(v, v) if isinstance(v, str) else v
                                      for k, v in overrides.items()})
    with pytest.raises(ConfigurationError, match="refusée en production") as caught:
        check_production_signing(settings)
    for message in messages:
        assert message in caught.value.message
    if settings.signer == "esignsante":  # the signer directory refuses it as well, before any signature
        with pytest.raises(ConfigurationError, match="DCC_SIGNING"):
            signer_directory(settings)


def test_outside_production_the_demo_ca_is_used_when_present(tmp_path: Path) -> None:
    settings = Settings(env="development", var_dir=tmp_path, signer="esignsante",
                        esignsante_url="https://esignsante.example")
    check_production_signing(settings)  # nothing refused
    assert signer_directory(settings).trust_ca is None  # type: ignore[attr-defined]  # no demo PKI yet
    pki = init_demo_pki(settings.resolved_pki_dir, [])
    directory = signer_directory(settings)
    assert (directory.trust_ca, directory.crl) == (pki.ca_path, pki.crl_path)  # type: ignore[attr-defined]
