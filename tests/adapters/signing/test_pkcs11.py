"""PAdES signing with a key on a PKCS#11 token, tested against SoftHSM 2 (Debian `softhsm2`).

A token is created in a temporary directory (SOFTHSM2_CONF), then a demo-CA-issued key and certificate
are imported with python-pkcs11, as an HSM or a provisioned smart card would hold them.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pikepdf
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

from dcc.adapters.rendering import PdfRenderer
from dcc.adapters.signing import init_demo_pki, verify_pdf
from dcc.adapters.signing.pki import Credential, DemoPki
from dcc.errors import SignatureRefused
from tests import pdfsig as pdfsig_tool
from tests.softhsm import PIN, SOFTHSM_LIB, SOFTHSM_UTIL, TOKEN, softhsm_token

pytestmark = pytest.mark.skipif(
    not (SOFTHSM_LIB and SOFTHSM_UTIL),
    reason="SoftHSM 2 absent (Debian: apt-get install softhsm2) — PKCS#11 signing not tested",
)
pkcs11 = pytest.importorskip("pkcs11", reason="python-pkcs11 absent (pip install python-pkcs11)")

from dcc.adapters.signing.pkcs11 import Pkcs11Signer  # noqa: E402

MARTIN = ("Claire Martin", "810000000001")
BERNARD = ("Luc Bernard", "810000000002")
HTML = (
    '<html lang="fr"><head><title>Fiche RCP</title></head><body><h1>Fiche RCP</h1>'
    "<p>Patiente LEFÈVRE Marie, proposition de chimiothérapie.</p>"
    '<div id="dcc-signature" style="width:80mm;height:28mm"></div></body></html>'
)


def import_credential(cred: Credential, label: str, key_id: bytes) -> None:
    """Puts a demo credential's EC key (non-extractable) and certificate on the SoftHSM token."""
    from pkcs11 import Attribute, CertificateType, KeyType, ObjectClass
    from pkcs11.util.ec import encode_named_curve_parameters

    key, cert, _ = pkcs12.load_key_and_certificates(cred.p12_path.read_bytes(),
                                                    cred.passphrase.encode("utf-8"))
    assert isinstance(key, ec.EllipticCurvePrivateKey) and cert is not None
    token = pkcs11.lib(SOFTHSM_LIB).get_token(token_label=TOKEN)
    with token.open(rw=True, user_pin=PIN) as session:
        session.create_object({
            Attribute.CLASS: ObjectClass.PRIVATE_KEY,
            Attribute.KEY_TYPE: KeyType.EC,
            Attribute.TOKEN: True,
            Attribute.PRIVATE: True,
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
            Attribute.SIGN: True,
            Attribute.LABEL: label,
            Attribute.ID: key_id,
            Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1"),
            Attribute.VALUE: key.private_numbers().private_value.to_bytes(32, "big"),
        })
        session.create_object({
            Attribute.CLASS: ObjectClass.CERTIFICATE,
            Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
            Attribute.TOKEN: True,
            Attribute.LABEL: label,
            Attribute.ID: key_id,
            Attribute.SUBJECT: cert.subject.public_bytes(),
            Attribute.VALUE: cert.public_bytes(Encoding.DER),
        })


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DemoPki:
    return init_demo_pki(tmp_path_factory.mktemp("pki"), [MARTIN, BERNARD])


@pytest.fixture(scope="module")
def token(pki: DemoPki) -> str:
    """The SoftHSM token holding Martin's, Bernard's and a revoked and an expired credential."""
    softhsm_token()
    import_credential(pki.credential(MARTIN[1]), "martin", b"\x01")
    import_credential(pki.credential(BERNARD[1]), "bernard", b"\x02")
    now = datetime.now(UTC)
    revoked = pki.issue(*MARTIN, filename="revoked-martin", register=False)
    pki.revoke(revoked.serial_number)
    import_credential(revoked, "revoked", b"\x03")
    expired = pki.issue(*MARTIN, not_before=now - timedelta(days=400), not_after=now - timedelta(days=1),
                        filename="expired-martin", register=False)
    import_credential(expired, "expired", b"\x04")
    return TOKEN


@pytest.fixture(scope="module")
def unsigned() -> bytes:
    return PdfRenderer(variant="pdf/a-1b").html_to_pdf(HTML)


def signer(pki: DemoPki, label: str, *, id_nat: str | None = MARTIN[1], pin: str = PIN,
           token_label: str = TOKEN) -> Pkcs11Signer:
    return Pkcs11Signer(SOFTHSM_LIB, token_label, pin, key_label=label, cert_label=label, id_nat=id_nat,
                        trust_ca=pki.ca_path, crl=pki.crl_path)


def sign(s: Pkcs11Signer, pdf: bytes) -> bytes:
    return s.sign(pdf, signer_name="Dr Claire MARTIN", reason="Validation de la fiche RCP",
                  location="CHU d'Angers")


def test_sign_with_token_and_verify(pki: DemoPki, token: str, unsigned: bytes) -> None:
    s = signer(pki, "martin")
    cert_id = s.certificate.subject.get_attributes_for_oid(x509.NameOID.SERIAL_NUMBER)[0].value
    assert cert_id == MARTIN[1]
    signed = sign(s, unsigned)
    assert signed.startswith(unsigned)  # incremental update
    result = verify_pdf(signed, trust_roots=[pki.ca_path])
    assert result.ok, result
    assert result.signer_name == "Claire Martin" and result.signer_id_nat == MARTIN[1]
    assert result.covers_entire_file and not result.revoked
    with pikepdf.open(io.BytesIO(signed)) as doc:
        field = doc.Root.AcroForm.Fields[0]
        assert field.FT == "/Sig" and "/AP" in field  # the same visible block as the PKCS#12 signer
        stamp = field.AP.N.read_bytes().decode("latin-1")
    assert "lectroniquement par Dr Claire MARTIN" in stamp


@pytest.mark.skipif(not pdfsig_tool.available(), reason=pdfsig_tool.SKIP_REASON)
def test_pdfsig_accepts_token_signature(pki: DemoPki, token: str, unsigned: bytes, tmp_path: Path) -> None:
    nss = pdfsig_tool.nss_database(tmp_path / "nss", trust_roots=[pki.ca_path])
    report = pdfsig_tool.pdfsig(sign(signer(pki, "martin"), unsigned), nss_dir=nss, workdir=tmp_path)
    assert report.ok, report.output


def test_batch_in_one_session(pki: DemoPki, token: str, unsigned: bytes) -> None:
    s = signer(pki, "martin")
    with s:
        pdfs = [sign(s, unsigned) for _ in range(3)]
    assert all(verify_pdf(p, trust_roots=[pki.ca_path]).ok for p in pdfs)
    assert s._session is None  # closed after the batch


def test_certificate_of_another_physician_is_refused(pki: DemoPki, token: str, unsigned: bytes) -> None:
    s = signer(pki, "bernard", id_nat=None)
    with pytest.raises(SignatureRefused, match="pas au médecin signataire attendu"):
        s.sign(unsigned, signer_name="Dr Claire MARTIN", reason="r", location="l", expected_id_nat=MARTIN[1])


def test_revoked_certificate_is_refused(pki: DemoPki, token: str, unsigned: bytes) -> None:
    with pytest.raises(SignatureRefused, match="révoqué"):
        sign(signer(pki, "revoked"), unsigned)


def test_expired_certificate_is_refused(pki: DemoPki, token: str, unsigned: bytes) -> None:
    with pytest.raises(SignatureRefused, match="expiré"):
        sign(signer(pki, "expired"), unsigned)


def test_wrong_pin(pki: DemoPki, token: str) -> None:
    with pytest.raises(SignatureRefused, match="PIN incorrect"):
        signer(pki, "martin", pin="000000")


def test_absent_token(pki: DemoPki, token: str) -> None:
    with pytest.raises(SignatureRefused, match="est absent"):
        signer(pki, "martin", token_label="carte-absente")


def test_unknown_key_label(pki: DemoPki, token: str) -> None:
    with pytest.raises(SignatureRefused, match="introuvable"):
        signer(pki, "inconnu")


def test_for_physician_finds_the_usable_certificate(pki: DemoPki, token: str, unsigned: bytes) -> None:
    # Martin has three certificates on the token (valid, revoked, expired): the valid one is chosen.
    s = Pkcs11Signer.for_physician(SOFTHSM_LIB, TOKEN, PIN, id_nat=MARTIN[1], name="Claire Martin",
                                   trust_ca=pki.ca_path, crl=pki.crl_path)
    assert s.certificate.serial_number == pki.credential(MARTIN[1]).serial_number
    assert verify_pdf(sign(s, unsigned), trust_roots=[pki.ca_path]).ok
    with pytest.raises(SignatureRefused, match="aucun certificat de Jean Inconnu"):
        Pkcs11Signer.for_physician(SOFTHSM_LIB, TOKEN, PIN, id_nat="899999999999", name="Jean Inconnu")


def test_signer_directory_pkcs11(pki: DemoPki, token: str, unsigned: bytes, tmp_path: Path) -> None:
    from dcc.bootstrap import Pkcs11SignerDirectory, signer_directory
    from dcc.config import Settings

    settings = Settings(env="test", var_dir=tmp_path, pki_dir=pki.directory, signer="pkcs11",
                        pkcs11_lib=SOFTHSM_LIB, pkcs11_token_label=TOKEN, pkcs11_pin=PIN)
    directory = signer_directory(settings)
    assert isinstance(directory, Pkcs11SignerDirectory)
    s = directory.signer_for(id_nat=BERNARD[1], name="Luc Bernard")
    result = verify_pdf(s.sign(unsigned, signer_name="Dr Luc BERNARD", reason="r", location="l"),
                        trust_roots=[pki.ca_path])
    assert result.ok and result.signer_id_nat == BERNARD[1]


def _crl_revoking(pki: DemoPki, serial: int, path: Path) -> Path:
    """A CRL of the demo CA that revokes `serial` (the operator's fresh CRL), written to `path`."""
    from cryptography.hazmat.primitives import hashes

    now = datetime.now(UTC)
    crl = (x509.CertificateRevocationListBuilder().issuer_name(pki.ca_cert.subject)
           .last_update(now - timedelta(minutes=5)).next_update(now + timedelta(days=1))
           .add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(serial)
                                    .revocation_date(now - timedelta(minutes=1)).build())
           .sign(pki.ca_key, hashes.SHA256()))
    path.write_bytes(crl.public_bytes(Encoding.PEM))
    return path


def test_production_checks_the_token_certificate_against_the_configured_ca_and_crl(
        pki: DemoPki, token: str, unsigned: bytes, tmp_path: Path) -> None:
    """In production the trust anchor and CRL come from DCC_SIGNING_TRUST_CA / DCC_SIGNING_CRL (no demo PKI is
    looked for): a certificate of another CA, or one the configured CRL revokes, signs nothing."""
    from dcc.bootstrap import signer_directory
    from dcc.config import Settings
    from dcc.errors import ConfigurationError

    def production(**kw: object) -> Settings:
        return Settings(env="production", var_dir=tmp_path / "var", signer="pkcs11", pkcs11_lib=SOFTHSM_LIB,
                        pkcs11_token_label=TOKEN, pkcs11_pin=PIN, **kw)

    def sign_as_bernard(settings: Settings) -> bytes:
        s = signer_directory(settings).signer_for(id_nat=BERNARD[1], name="Luc Bernard")
        return s.sign(unsigned, signer_name="Dr Luc BERNARD", reason="r", location="l")

    assert verify_pdf(sign_as_bernard(production(signing_trust_ca=pki.ca_path, signing_crl=pki.crl_path)),
                      trust_roots=[pki.ca_path]).ok
    other = init_demo_pki(tmp_path / "other-ca", [], ca_name="Autre AC")
    with pytest.raises(SignatureRefused, match="autorité de certification reconnue"):
        sign_as_bernard(production(signing_trust_ca=other.ca_path, signing_crl=other.crl_path))
    crl = _crl_revoking(pki, pki.credential(BERNARD[1]).serial_number, tmp_path / "crl.pem")
    with pytest.raises(SignatureRefused, match="révoqué"):
        sign_as_bernard(production(signing_trust_ca=pki.ca_path, signing_crl=crl))
    with pytest.raises(ConfigurationError, match="DCC_SIGNING_TRUST_CA"):
        signer_directory(production(signing_crl=pki.crl_path))
