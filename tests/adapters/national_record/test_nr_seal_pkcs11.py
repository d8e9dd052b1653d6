"""The structure's seal key on a PKCS#11 token (SoftHSM 2): DCC_DMP_SEAL_PKCS11_* give the sending identity, the
VIHF is signed on the token (the key never leaves it) and verifies against the CA; the simulator accepts the
submission; production refuses a wrong PIN, an absent key and a self-signed certificate on the token."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree
from signxml import XMLVerifier

from dcc.adapters.national_record.metadata import entry_from_cda
from dcc.adapters.national_record.vihf import build_vihf
from dcc.bootstrap import XdsNationalRecord, check_production_identity, sender_identity
from dcc.config import Settings
from dcc.domain.ports import Submission
from dcc.errors import ConfigurationError
from dcc.simulator.app import create_app
from dcc.simulator.samples import sample_cda
from dcc.simulator.server import start_in_thread
from tests.adapters.national_record.test_nr_production_identity import _cert
from tests.softhsm import PIN, SKIP_REASON, SOFTHSM_LIB, SOFTHSM_UTIL, softhsm_token

pytestmark = pytest.mark.skipif(not (SOFTHSM_LIB and SOFTHSM_UTIL), reason=SKIP_REASON)
pkcs11 = pytest.importorskip("pkcs11", reason="python-pkcs11 absent (pip install python-pkcs11)")
SAML = {"saml": "urn:oasis:names:tc:SAML:2.0:assertion", "ds": "http://www.w3.org/2000/09/xmldsig#"}


def _import_rsa(token: str, label: str, key_id: bytes, key: rsa.RSAPrivateKey, cert: x509.Certificate) -> None:
    """Put an RSA key (sensitive, non-extractable) and its certificate on the token, as an HSM holds them."""
    from pkcs11 import Attribute, CertificateType, KeyType, ObjectClass

    n = key.private_numbers()

    def b(i: int) -> bytes:
        return i.to_bytes((i.bit_length() + 7) // 8, "big")

    with pkcs11.lib(SOFTHSM_LIB).get_token(token_label=token).open(rw=True, user_pin=PIN) as session:
        session.create_object({
            Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.KEY_TYPE: KeyType.RSA, Attribute.TOKEN: True,
            Attribute.PRIVATE: True, Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False, Attribute.SIGN: True,
            Attribute.LABEL: label, Attribute.ID: key_id, Attribute.MODULUS: b(n.public_numbers.n),
            Attribute.PUBLIC_EXPONENT: b(n.public_numbers.e), Attribute.PRIVATE_EXPONENT: b(n.d),
            Attribute.PRIME_1: b(n.p), Attribute.PRIME_2: b(n.q), Attribute.EXPONENT_1: b(n.dmp1),
            Attribute.EXPONENT_2: b(n.dmq1), Attribute.COEFFICIENT: b(n.iqmp),
        })
        session.create_object({
            Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
            Attribute.TOKEN: True, Attribute.LABEL: label, Attribute.ID: key_id,
            Attribute.SUBJECT: cert.subject.public_bytes(),
            Attribute.VALUE: cert.public_bytes(serialization.Encoding.DER),
        })


@pytest.fixture(scope="module")
def hsm(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    token = softhsm_token()
    out = tmp_path_factory.mktemp("seal-hsm")
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = _cert("AC de test", ca_key, "AC de test", ca_key, ca=True)
    seal_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    seal = _cert("Cachet serveur CHU de test", seal_key, "AC de test", ca_key, ca=False)
    _import_rsa(token, "cachet-seal", b"\x21", seal_key, seal)
    demo_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _import_rsa(token, "cachet-autosigne", b"\x22", demo_key,
                _cert("Démonstration", demo_key, "Démonstration", demo_key, ca=False))
    trust = out / "trust.pem"
    trust.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return {"token": token, "trust": trust, "seal": seal, "dir": out}


def _settings(hsm: dict[str, Any], **overrides: Any) -> Settings:
    fields: dict[str, Any] = {
        "env": "production", "var_dir": hsm["dir"] / "var", "dmp_trust_store": hsm["trust"],
        "lps_homologation_id": "HOMOLOG-2026-0042", "dmp_seal_pkcs11_lib": SOFTHSM_LIB,
        "dmp_seal_pkcs11_token_label": hsm["token"], "dmp_seal_pkcs11_key_label": "cachet-seal",
        "dmp_seal_pkcs11_pin": PIN,
    }
    fields.update(overrides)
    return Settings(**fields)


def test_the_vihf_is_signed_on_the_token_and_verifies_against_the_ca(hsm: dict[str, Any]) -> None:
    settings = _settings(hsm)
    check_production_identity(settings)  # a seal on a token is a seal: nothing refused
    identity = sender_identity(settings, "ARA", "CHU de test", "11234567890")
    with pytest.raises(ConfigurationError, match="pas exportable"):
        identity.key_pem()
    assertion = etree.fromstring(etree.tostring(build_vihf(identity, entry_from_cda(sample_cda()))))
    verified = XMLVerifier().verify(assertion, ca_pem_file=str(hsm["trust"]), id_attribute="ID",
                                    expect_references=1)
    assert not isinstance(verified, list) and verified.signed_xml is not None
    embedded = assertion.findtext(".//ds:X509Certificate", namespaces=SAML)
    assert embedded is not None
    assert x509.load_der_x509_certificate(base64.b64decode("".join(embedded.split()))) == hsm["seal"]


def test_a_region_with_its_own_pkcs12_keeps_it(hsm: dict[str, Any], tmp_path: Path) -> None:
    from tests.adapters.national_record.test_nr_production_identity import PASSWORD

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = _cert("Cachet région BRE", key, "AC de test", key, ca=False)
    p12 = tmp_path / "bre.p12"
    p12.write_bytes(serialization.pkcs12.serialize_key_and_certificates(
        b"bre", key, cert, None, serialization.BestAvailableEncryption(PASSWORD.encode())))
    settings = _settings(hsm, env="development", dmp_seal_p12_by_region={"BRE": p12},
                         dmp_seal_p12_password_by_region={"BRE": PASSWORD})
    assert x509.load_pem_x509_certificate(sender_identity(settings, "BRE", "CHU", "1").cert_pem()) == cert
    assert x509.load_pem_x509_certificate(sender_identity(settings, "ARA", "CHU", "1").cert_pem()) == hsm["seal"]


def test_the_simulator_accepts_a_submission_sealed_on_the_token(hsm: dict[str, Any], tmp_path: Path) -> None:
    settings = _settings(hsm, env="development")
    # the simulator trusts the CA that issued the seal on the token
    with start_in_thread(create_app(trust_store=hsm["trust"]), log_level="critical") as server:
        record = XdsNationalRecord(server.url, identity_dir=tmp_path / "id", structure_name="CHU de test",
                                   structure_id_nat="11234567890",
                                   identity=sender_identity(settings, "ARA", "CHU de test", "11234567890"))
        try:
            outcome = record.submit(Submission(unique_id="", cda=sample_cda(), pdf=b"", kind="FRCP"))
        finally:
            record.close()
    assert outcome.status_code == 200


@pytest.mark.parametrize(("overrides", "message"), [
    ({"dmp_seal_pkcs11_pin": "000000"}, "code PIN incorrect"),
    ({"dmp_seal_pkcs11_key_label": "absente"}, "« absente » introuvable"),
    ({"dmp_seal_pkcs11_token_label": "hsm-absent"}, "est absent"),
    ({"dmp_seal_pkcs11_key_label": ""}, "DCC_DMP_SEAL_PKCS11_KEY_LABEL"),
    ({"dmp_seal_pkcs11_key_label": "cachet-autosigne"}, "clé VIHF de démonstration refusée"),
])
def test_production_refuses(hsm: dict[str, Any], overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        check_production_identity(_settings(hsm, **overrides))
    assert "DCC_ENV=production" in caught.value.message
