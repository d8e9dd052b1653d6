"""Production identity: the region's seal certificate (PKCS#12) signs the VIHF; DCC_ENV=production refuses
the demo identity, a missing seal certificate, a missing trust store and the demo homologation number."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import XMLVerifier

from dcc.adapters.national_record.metadata import entry_from_cda
from dcc.adapters.national_record.vihf import build_vihf, make_demo_identity
from dcc.bootstrap import check_production_identity, dmp_http_client, sender_identity
from dcc.config import Settings
from dcc.errors import ConfigurationError
from dcc.simulator.samples import sample_cda

SAML = {"saml": "urn:oasis:names:tc:SAML:2.0:assertion", "ds": "http://www.w3.org/2000/09/xmldsig#"}
PASSWORD = "mot-de-passe-du-cachet"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key: rsa.RSAPrivateKey, issuer: str, issuer_key: rsa.RSAPrivateKey, *,
          ca: bool) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    return (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=not ca, content_commitment=not ca,
                                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                                         key_cert_sign=ca, crl_sign=ca, encipher_only=False,
                                         decipher_only=False), critical=True)
            .sign(issuer_key, hashes.SHA256()))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A test CA (the trust store) and a seal certificate it issued, in a password-protected PKCS#12."""
    out = tmp_path_factory.mktemp("seal")
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = _cert("AC de test", ca_key, "AC de test", ca_key, ca=True)
    seal_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    seal = _cert("Cachet serveur CHU de test", seal_key, "AC de test", ca_key, ca=False)
    p12 = out / "seal.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(
        b"seal", seal_key, seal, [ca], serialization.BestAvailableEncryption(PASSWORD.encode())))
    trust = out / "trust.pem"
    trust.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    # a self-signed (demo-like) seal
    demo_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    demo = _cert("Démonstration", demo_key, "Démonstration", demo_key, ca=False)
    demo_p12 = out / "demo.p12"
    demo_p12.write_bytes(pkcs12.serialize_key_and_certificates(b"demo", demo_key, demo, None,
                                                               serialization.NoEncryption()))
    return {"p12": p12, "trust": trust, "ca": ca, "seal": seal, "demo_p12": demo_p12, "dir": out}


def _production(pki: dict[str, Any], **overrides: Any) -> Settings:
    fields: dict[str, Any] = {
        "env": "production", "var_dir": pki["dir"] / "var", "dmp_seal_p12": pki["p12"],
        "dmp_seal_p12_password": PASSWORD, "dmp_trust_store": pki["trust"],
        "lps_homologation_id": "HOMOLOG-2026-0042", "lps_name": "dcc-region", "lps_version": "2.3.1",
    }
    fields.update(overrides)
    return Settings(**fields)


def test_production_configuration_with_a_real_seal_signs_the_vihf_with_it(pki: dict[str, Any]) -> None:
    settings = _production(pki)
    check_production_identity(settings)  # passes
    identity = sender_identity(settings, "ARA", "CHU de test", "11234567890")
    cda = sample_cda()
    entry = entry_from_cda(cda)
    assertion = etree.fromstring(etree.tostring(build_vihf(identity, entry)))
    verified = XMLVerifier().verify(assertion, ca_pem_file=str(pki["trust"]), id_attribute="ID",
                                    expect_references=1)
    embedded = assertion.findtext(".//ds:X509Certificate", namespaces=SAML)
    assert embedded is not None
    cert = x509.load_der_x509_certificate(base64.b64decode("".join(embedded.split())))
    assert cert == pki["seal"]
    assert not isinstance(verified, list)
    signed = verified.signed_xml
    assert signed is not None
    attrs = {a.get("Name"): a.findtext("saml:AttributeValue", namespaces=SAML)
             for a in signed.findall("saml:AttributeStatement/saml:Attribute", SAML)}
    assert attrs["LPS_ID_HOMOLOGATION_DMP"] == "HOMOLOG-2026-0042"
    assert attrs["LPS_Nom"] == "dcc-region"
    assert attrs["LPS_Version"] == "2.3.1"
    assert attrs["Identifiant_Structure"] == "11234567890"


def test_the_per_region_seal_overrides_the_default(pki: dict[str, Any]) -> None:
    settings = _production(pki, dmp_seal_p12=None, dmp_seal_p12_by_region={"BRE": pki["p12"]},
                           dmp_seal_p12_password_by_region={"BRE": PASSWORD})
    check_production_identity(settings)
    assert x509.load_pem_x509_certificate(
        sender_identity(settings, "BRE", "CHU", "1").cert_pem()) == pki["seal"]
    with pytest.raises(ConfigurationError, match="Région ARA : certificat de cachet serveur manquant"):
        sender_identity(settings, "ARA", "CHU", "1")


@pytest.mark.parametrize(("overrides", "message"), [
    ({"dmp_seal_p12": None}, "certificat de cachet serveur absent"),
    ({"dmp_trust_store": None}, "magasin de confiance absent"),
    ({"dmp_trust_store": Path("/nonexistent/trust.pem")}, "magasin de confiance absent"),
    ({"lps_homologation_id": "DCC-DEMO"}, "numéro d'homologation DMP de démonstration"),
    ({"lps_homologation_id": ""}, "numéro d'homologation DMP de démonstration ou absent"),
    ({"dmp_seal_p12_password": "faux"}, "mot de passe incorrect"),
])
def test_production_refuses(pki: dict[str, Any], overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        check_production_identity(_production(pki, **overrides))
    assert "DCC_ENV=production" in caught.value.message


def test_production_refuses_a_self_signed_demo_seal(pki: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="clé VIHF de démonstration refusée"):
        check_production_identity(_production(pki, dmp_seal_p12=pki["demo_p12"], dmp_seal_p12_password=""))


def test_production_refuses_the_demo_vihf_key_of_the_demo_pki(pki: dict[str, Any], tmp_path: Path) -> None:
    demo = make_demo_identity(tmp_path / "var" / "pki" / "regions" / "ARA", "CHU", "1")
    assert demo.key_path is not None and demo.cert_path is not None
    key = serialization.load_pem_private_key(demo.key_path.read_bytes(), None)
    cert = x509.load_pem_x509_certificate(demo.cert_path.read_bytes())
    p12 = tmp_path / "var" / "pki" / "regions" / "ARA" / "vihf.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(b"d", key, cert, None,  # type: ignore[arg-type]
                                                          serialization.NoEncryption()))
    with pytest.raises(ConfigurationError, match="clé VIHF de démonstration refusée"):
        check_production_identity(_production(pki, var_dir=tmp_path / "var", dmp_seal_p12=p12,
                                              dmp_seal_p12_password=""))


def test_outside_production_the_demo_identity_carries_the_configured_software(tmp_path: Path) -> None:
    settings = Settings(env="development", var_dir=tmp_path, lps_homologation_id="X-1")
    check_production_identity(settings)  # nothing refused outside production
    identity = sender_identity(settings, "ARA", "CHU", "1")
    assert identity.demo is True and identity.lps_homologation_id == "X-1"


def test_mutual_tls_client_loads_the_configured_certificate(pki: dict[str, Any], tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = _cert("client", key, "AC", ca_key, ca=False)
    (tmp_path / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "k.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                      serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))
    client = dmp_http_client(Settings(env="test", dmp_tls_cert=tmp_path / "c.pem", dmp_tls_key=tmp_path / "k.pem",
                                      dmp_trust_store=pki["trust"]))
    client.close()
    with pytest.raises(ConfigurationError, match="Certificats TLS du DMP illisibles"):
        dmp_http_client(Settings(env="test", dmp_tls_cert=tmp_path / "absent.pem", dmp_trust_store=pki["trust"]))
