"""Each region names its own seal key on a PKCS#11 token (DCC_DMP_SEAL_PKCS11_BY_REGION; its PIN from
DCC_DMP_SEAL_PKCS11_PIN_BY_REGION, never in the non-secret setting): two regions sign with two different keys
(SoftHSM 2), issued by two different CAs; the simulator verifies each against its trust store and refuses the
region whose CA it does not trust; production refuses a region's missing, wrong or self-signed key, naming the
region."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree
from pydantic import ValidationError
from signxml import XMLVerifier
from signxml.exceptions import InvalidCertificate

from dcc.adapters.national_record.metadata import entry_from_cda
from dcc.adapters.national_record.vihf import build_vihf
from dcc.bootstrap import XdsNationalRecord, check_production_identity, sender_identity
from dcc.config import Settings
from dcc.domain.ports import Submission
from dcc.errors import ConfigurationError, DeliveryError
from dcc.simulator.app import create_app
from dcc.simulator.samples import sample_cda
from dcc.simulator.server import start_in_thread
from tests.adapters.national_record.test_nr_production_identity import PASSWORD, _cert
from tests.adapters.national_record.test_nr_seal_pkcs11 import _import_rsa
from tests.softhsm import PIN, SKIP_REASON, SOFTHSM_LIB, SOFTHSM_UTIL, softhsm_token

pytestmark = pytest.mark.skipif(not (SOFTHSM_LIB and SOFTHSM_UTIL), reason=SKIP_REASON)
pkcs11 = pytest.importorskip("pkcs11", reason="python-pkcs11 absent (pip install python-pkcs11)")
SAML = {"saml": "urn:oasis:names:tc:SAML:2.0:assertion", "ds": "http://www.w3.org/2000/09/xmldsig#"}
STRUCTURES = {"ARA": ("CHU de Lyon", "11690781111"), "BRE": ("CHU de Rennes", "13500000111")}


@pytest.fixture(scope="module")
def hsm(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two regions' seal keys on the token: ARA's found by its label (issued by CA A), BRE's by its CKA_ID only
    (issued by CA B); a self-signed key for the refusals."""
    token = softhsm_token()
    out = tmp_path_factory.mktemp("regions-hsm")
    found: dict[str, Any] = {"token": token, "dir": out}
    for region, key_label, key_id in (("ARA", "cachet-region-ara", b"\x41"), ("BRE", "cachet-region-bre", b"\x42")):
        ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ca = _cert(f"AC de test {region}", ca_key, f"AC de test {region}", ca_key, ca=True)
        seal_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        seal = _cert(f"Cachet serveur {STRUCTURES[region][0]}", seal_key, f"AC de test {region}", ca_key, ca=False)
        _import_rsa(token, key_label, key_id, seal_key, seal)
        trust = out / f"ca-{region}.pem"
        trust.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        found[region] = {"seal": seal, "trust": trust}
    self_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _import_rsa(token, "cachet-region-autosigne", b"\x43", self_key,
                _cert("Démonstration", self_key, "Démonstration", self_key, ca=False))
    both = out / "trust-both.pem"
    both.write_bytes(found["ARA"]["trust"].read_bytes() + found["BRE"]["trust"].read_bytes())
    found["both"] = both
    return found


def _settings(hsm: dict[str, Any], **overrides: Any) -> Settings:
    fields: dict[str, Any] = {
        "env": "development", "var_dir": hsm["dir"] / "var", "dmp_trust_store": hsm["both"],
        "lps_homologation_id": "HOMOLOG-2026-0042",
        # the default module and token; no default key: each region names its own
        "dmp_seal_pkcs11_lib": SOFTHSM_LIB, "dmp_seal_pkcs11_token_label": hsm["token"],
        "dmp_seal_pkcs11_pin": "000000",  # wrong: each region's own PIN must be the one used
        "dmp_seal_pkcs11_by_region": {"ARA": {"key_label": "cachet-region-ara"},
                                      "BRE": {"key_id": "42", "token_label": hsm["token"], "lib": SOFTHSM_LIB}},
        "dmp_seal_pkcs11_pin_by_region": {"ARA": PIN, "BRE": PIN},
    }
    fields.update(overrides)
    return Settings(**fields)


def _identity(settings: Settings, region: str) -> Any:
    return sender_identity(settings, region, *STRUCTURES[region])


def _signer(assertion: etree._Element) -> x509.Certificate:
    embedded = assertion.findtext(".//ds:X509Certificate", namespaces=SAML)
    assert embedded is not None
    return x509.load_der_x509_certificate(base64.b64decode("".join(embedded.split())))


def test_two_regions_sign_with_two_keys_each_verified_against_its_own_ca(hsm: dict[str, Any]) -> None:
    settings = _settings(hsm)
    for region, other in (("ARA", "BRE"), ("BRE", "ARA")):
        identity = _identity(settings, region)
        assert x509.load_pem_x509_certificate(identity.cert_pem()) == hsm[region]["seal"]
        assertion = etree.fromstring(etree.tostring(build_vihf(identity, entry_from_cda(sample_cda()))))
        assert _signer(assertion) == hsm[region]["seal"]
        verified = XMLVerifier().verify(assertion, ca_pem_file=str(hsm[region]["trust"]), id_attribute="ID",
                                        expect_references=1)
        assert not isinstance(verified, list) and verified.signed_xml is not None
        with pytest.raises(InvalidCertificate):  # the other region's CA did not issue this seal
            XMLVerifier().verify(assertion, ca_pem_file=str(hsm[other]["trust"]), id_attribute="ID",
                                 expect_references=1)


def _submit(url: str, settings: Settings, region: str, tmp_path: Path) -> int:
    name, id_nat = STRUCTURES[region]
    record = XdsNationalRecord(url, identity_dir=tmp_path / region, structure_name=name, structure_id_nat=id_nat,
                               identity=_identity(settings, region))
    try:
        return record.submit(Submission(unique_id="", cda=sample_cda(), pdf=b"", kind="FRCP")).status_code or 0
    finally:
        record.close()


def test_the_simulator_accepts_each_region_sealed_by_a_ca_it_trusts(hsm: dict[str, Any], tmp_path: Path) -> None:
    settings = _settings(hsm)
    with start_in_thread(create_app(trust_store=[hsm["ARA"]["trust"], hsm["BRE"]["trust"]]),
                         log_level="critical") as server:
        assert _submit(server.url, settings, "ARA", tmp_path) == 200
        assert _submit(server.url, settings, "BRE", tmp_path) == 200
    # a simulator that trusts ARA's CA only refuses BRE's seal (the key on the token signs, but CA B issued it)
    with start_in_thread(create_app(trust_store=hsm["ARA"]["trust"]), log_level="critical") as server:
        assert _submit(server.url, settings, "ARA", tmp_path) == 200
        with pytest.raises(DeliveryError, match="Signataire du VIHF refusé"):
            _submit(server.url, settings, "BRE", tmp_path)


def test_the_regional_setting_comes_from_the_environment_and_holds_no_pin(
        hsm: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DCC_DMP_SEAL_PKCS11_LIB", SOFTHSM_LIB)
    monkeypatch.setenv("DCC_DMP_SEAL_PKCS11_TOKEN_LABEL", hsm["token"])
    monkeypatch.setenv("DCC_DMP_SEAL_PKCS11_BY_REGION", json.dumps({"BRE": {"key_id": "0x42"}}))
    monkeypatch.setenv("DCC_DMP_SEAL_PKCS11_PIN_BY_REGION", json.dumps({"BRE": PIN}))
    settings = Settings(var_dir=hsm["dir"] / "var")
    assert x509.load_pem_x509_certificate(_identity(settings, "BRE").cert_pem()) == hsm["BRE"]["seal"]
    # the seal's setting is not a secret: a PIN written there is refused
    monkeypatch.setenv("DCC_DMP_SEAL_PKCS11_BY_REGION", json.dumps({"BRE": {"key_id": "42", "pin": PIN}}))
    with pytest.raises(ValidationError, match="pin"):
        Settings()


def test_a_region_without_its_own_key_uses_the_default_one(hsm: dict[str, Any]) -> None:
    settings = _settings(hsm, dmp_seal_pkcs11_key_label="cachet-region-ara", dmp_seal_pkcs11_pin=PIN)
    assert x509.load_pem_x509_certificate(
        sender_identity(settings, "PDL", "CHU de Nantes", "14400000111").cert_pem()) == hsm["ARA"]["seal"]


def test_production_accepts_the_two_regional_keys(hsm: dict[str, Any]) -> None:
    check_production_identity(_settings(hsm, env="production"))  # nothing refused


@pytest.mark.parametrize(("regional", "message"), [
    ({"BRE": {"key_id": "42", "token_label": "hsm-absent"}}, "Région BRE : .*« hsm-absent » est absent"),
    ({"BRE": {"key_id": "4f"}}, "Région BRE : .*d'identifiant 4f introuvable"),
    ({"BRE": {"token_label": "x"}}, "Région BRE : .*« key_id » sont obligatoires"),
    ({"BRE": {"key_label": "cachet-region-autosigne"}},
     r"clé VIHF de démonstration refusée \(PKCS#11 DCC_DMP_SEAL_PKCS11_BY_REGION\[BRE\]"),
])
def test_production_refuses_a_regional_key(hsm: dict[str, Any], regional: dict[str, Any], message: str) -> None:
    settings = _settings(hsm, env="production",
                         dmp_seal_pkcs11_by_region={"ARA": {"key_label": "cachet-region-ara"}, **regional})
    with pytest.raises(ConfigurationError, match=message) as caught:
        check_production_identity(settings)
    assert caught.value.message.startswith("Configuration refusée en production (DCC_ENV=production)")


def test_production_refuses_a_wrong_regional_pin(hsm: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="Région BRE : .*code PIN incorrect"):
        check_production_identity(_settings(hsm, env="production",
                                            dmp_seal_pkcs11_pin_by_region={"ARA": PIN, "BRE": "999999"}))


def test_a_region_may_not_have_two_seals(hsm: dict[str, Any], tmp_path: Path) -> None:
    p12 = tmp_path / "bre.p12"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    p12.write_bytes(serialization.pkcs12.serialize_key_and_certificates(
        b"bre", key, _cert("Cachet BRE", key, "AC", key, ca=False), None,
        serialization.BestAvailableEncryption(PASSWORD.encode())))
    settings = _settings(hsm, env="production", dmp_seal_p12_by_region={"BRE": p12})
    with pytest.raises(ConfigurationError, match="Région BRE : deux cachets serveur configurés"):
        check_production_identity(settings)
    with pytest.raises(ConfigurationError, match="Région BRE : deux cachets serveur configurés"):
        _identity(settings, "BRE")


def test_production_refuses_a_region_left_without_any_seal(hsm: dict[str, Any]) -> None:
    settings = _settings(hsm, env="production", dmp_seal_pkcs11_lib="", dmp_seal_pkcs11_token_label="",
                         dmp_seal_pkcs11_by_region={"ARA": {"key_label": "cachet-region-ara", "lib": SOFTHSM_LIB,
                                                            "token_label": hsm["token"]}})
    check_production_identity(settings)  # ARA's own key is a seal
    assert x509.load_pem_x509_certificate(_identity(settings, "ARA").cert_pem()) == hsm["ARA"]["seal"]
    with pytest.raises(ConfigurationError, match="Région BRE : certificat de cachet serveur manquant"):
        sender_identity(settings, "BRE", *STRUCTURES["BRE"])
