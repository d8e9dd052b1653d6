"""Demo PKI + PAdES signing of the final PDF/A, verified by pyHanko and (when installed) poppler's pdfsig."""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pikepdf
import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from pyhanko.keys import load_private_key_from_pemder_data
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.timestamps import DummyTimeStamper

from dcc.adapters.rendering import PdfRenderer
from dcc.adapters.signing import Pkcs12Signer, init_demo_pki, verify_pdf
from dcc.adapters.signing import pades as pades_mod
from dcc.adapters.signing.pki import DemoPki
from dcc.errors import SignatureRefused
from tests import pdfsig as pdfsig_tool

MARTIN = ("Claire Martin", "810000000001")
BERNARD = ("Luc Bernard", "810000000002")
HTML = (
    '<html lang="fr"><head><title>Fiche RCP</title></head><body><h1>Fiche RCP</h1>'
    "<p>Patiente LEFÈVRE Marie, proposition de chimiothérapie.</p>"
    '<div id="dcc-signature" style="width:80mm;height:28mm"></div></body></html>'
)
HAS_PDFSIG = pdfsig_tool.available()
# Each tampering / certificate case is checked by pyHanko and, as its own test, by poppler's pdfsig (an
# independent verifier), skipped with its reason when poppler is absent (`make test-deps` installs it).
VERIFIERS = ["pyhanko",
             pytest.param("pdfsig", marks=pytest.mark.skipif(not HAS_PDFSIG, reason=pdfsig_tool.SKIP_REASON))]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DemoPki:
    return init_demo_pki(tmp_path_factory.mktemp("pki"), [MARTIN, BERNARD])


@pytest.fixture(scope="module")
def unsigned() -> bytes:
    return PdfRenderer(variant="pdf/a-1b").html_to_pdf(HTML)


def signer_for(pki: DemoPki, id_nat: str, **kw: object) -> Pkcs12Signer:
    cred = pki.credential(id_nat)
    return Pkcs12Signer(cred.p12_path, cred.passphrase, id_nat=id_nat, trust_ca=pki.ca_path,
                        crl=pki.crl_path, **kw)  # type: ignore[arg-type]


def sign(pki: DemoPki, pdf: bytes, id_nat: str = MARTIN[1], **kw: object) -> bytes:
    return signer_for(pki, id_nat, **kw).sign(
        pdf, signer_name="Dr Claire MARTIN", reason="Validation de la fiche RCP", location="CHU d'Angers"
    )


@pytest.fixture(scope="module")
def signed(pki: DemoPki, unsigned: bytes) -> bytes:
    return sign(pki, unsigned)


def pdfsig(pdf: bytes, tmp_path: Path, trusting: DemoPki) -> pdfsig_tool.PdfsigReport:
    """poppler's verdict, with an NSS store that trusts `trusting`'s CA and holds its current CRL."""
    nss = pdfsig_tool.nss_database(tmp_path / f"nss-{len(list(tmp_path.glob('nss-*')))}",
                                   trust_roots=[trusting.ca_path])
    return pdfsig_tool.pdfsig(pdf, nss_dir=nss, workdir=tmp_path)


# ---------------------------------------------------------------- demo PKI


def test_demo_pki_files_and_certificate(pki: DemoPki) -> None:
    for name in ("ca.pem", "ca.key", "crl.pem", "810000000001.p12", "810000000001.json"):
        assert (pki.directory / name).exists(), name
    cert = x509.load_pem_x509_certificate(pki.credential(MARTIN[1]).cert_path.read_bytes())
    assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "Claire Martin"
    assert cert.subject.get_attributes_for_oid(x509.NameOID.SERIAL_NUMBER)[0].value == "810000000001"
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.content_commitment and ku.digital_signature
    crl = x509.load_pem_x509_crl(pki.crl_path.read_bytes())
    assert crl.is_signature_valid(pki.ca_cert.public_key())  # type: ignore[arg-type]


def test_demo_pki_is_idempotent(pki: DemoPki) -> None:
    again = init_demo_pki(pki.directory, [MARTIN, BERNARD])
    assert again.ca_cert == pki.ca_cert
    assert again.credential(MARTIN[1]) == pki.credential(MARTIN[1])


# ---------------------------------------------------------------- signing and verification


def test_signed_pdf_verifies_and_stays_pdfa(pki: DemoPki, unsigned: bytes, signed: bytes) -> None:
    assert signed.startswith(unsigned)  # incremental update: the PDF/A bytes are untouched
    result = verify_pdf(signed, trust_roots=[pki.ca_path])
    assert result.ok, result
    assert result.intact and result.valid and result.trusted and result.covers_entire_file
    assert result.signer_name == "Claire Martin" and result.signer_id_nat == "810000000001"
    assert result.signing_time is not None and not result.revoked and not result.expired
    with pikepdf.open(io.BytesIO(signed)) as doc:
        meta = doc.open_metadata()
        assert meta["{http://www.aiim.org/pdfa/ns/id/}part"] == "1"
        assert meta["{http://www.aiim.org/pdfa/ns/id/}conformance"] == "B"
        field = doc.Root.AcroForm.Fields[0]
        assert field.FT == "/Sig" and "/AP" in field  # visible signature with an appearance
        assert int(field.F) & 4  # printable (PDF/A)
        font = field.AP.N.Resources.Font.F1
        assert "/FontFile2" in font.DescendantFonts[0].FontDescriptor  # embedded (PDF/A)
        stamp = field.AP.N.read_bytes().decode("latin-1")
    assert "lectroniquement par Dr Claire MARTIN" in stamp


def test_cms_signed_attributes_are_pades_baseline(pki: DemoPki, signed: bytes) -> None:
    import hashlib

    from pyhanko.pdf_utils.reader import PdfFileReader

    sig = PdfFileReader(io.BytesIO(signed)).embedded_signatures[0]
    assert sig.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    attrs = {a["type"].native: a["values"] for a in sig.signer_info["signed_attrs"]}
    assert set(attrs) == {"content_type", "message_digest", "signing_certificate_v2"}  # no signing-time (PAdES)
    cert_der = pki.credential(MARTIN[1]).cert_path.read_bytes()
    cert = x509.load_pem_x509_certificate(cert_der)
    ess = attrs["signing_certificate_v2"][0]["certs"][0]
    assert ess["cert_hash"].native == hashlib.sha256(cert.public_bytes(Encoding.DER)).digest()
    assert ess["issuer_serial"]["serial_number"].native == cert.serial_number
    assert attrs["message_digest"][0].native == sig.compute_digest()


def test_visible_stamp_text(signed: bytes) -> None:
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext absent")
    text = subprocess.run(["pdftotext", "-", "-"], input=signed, capture_output=True, check=True).stdout
    assert "Signé électroniquement par Dr Claire MARTIN" in text.decode("utf-8")


@pytest.mark.skipif(not HAS_PDFSIG, reason=pdfsig_tool.SKIP_REASON)
def test_pdfsig_accepts(pki: DemoPki, signed: bytes, tmp_path: Path) -> None:
    report = pdfsig(signed, tmp_path, trusting=pki)
    assert report.signature_valid and report.total_document_signed, report.output
    assert report.certificate_trusted and report.ok, report.output


@pytest.mark.parametrize("verifier", VERIFIERS)
def test_flipped_byte_is_detected(pki: DemoPki, signed: bytes, tmp_path: Path, verifier: str) -> None:
    pos = signed.index(b"Fiche RCP")  # inside the signed range
    tampered = signed[:pos] + b"G" + signed[pos + 1:]
    if verifier == "pyhanko":
        result = verify_pdf(tampered, trust_roots=[pki.ca_path])
        assert not result.intact and not result.ok
    else:
        report = pdfsig(tampered, tmp_path, trusting=pki)
        assert not report.signature_valid and not report.ok, report.output


@pytest.mark.parametrize("verifier", VERIFIERS)
def test_appended_incremental_update_is_detected(pki: DemoPki, signed: bytes, tmp_path: Path,
                                                 verifier: str) -> None:
    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    writer.root["/Lang"] = generic.TextStringObject("en")
    writer.update_root()
    buf = io.BytesIO()
    writer.write(buf)
    if verifier == "pyhanko":
        result = verify_pdf(buf.getvalue(), trust_roots=[pki.ca_path])
        assert result.intact and not result.covers_entire_file and not result.ok
    else:
        report = pdfsig(buf.getvalue(), tmp_path, trusting=pki)
        assert report.signature_valid and not report.total_document_signed and not report.ok, report.output


@pytest.mark.parametrize("verifier", VERIFIERS)
def test_untrusted_ca_is_detected(pki: DemoPki, unsigned: bytes, tmp_path: Path, verifier: str) -> None:
    other = init_demo_pki(tmp_path / "other", [MARTIN], ca_name="AC pirate")
    pdf = sign(other, unsigned)
    if verifier == "pyhanko":
        assert verify_pdf(pdf, trust_roots=[other.ca_path]).ok
        result = verify_pdf(pdf, trust_roots=[pki.ca_path])
        assert result.intact and not result.trusted and not result.ok
    else:
        assert pdfsig(pdf, tmp_path, trusting=other).ok
        report = pdfsig(pdf, tmp_path, trusting=pki)
        assert report.signature_valid and report.certificate == "Certificate issuer isn't Trusted.", report.output
        assert not report.ok


@pytest.mark.parametrize("verifier", VERIFIERS)
def test_revoked_certificate(tmp_path: Path, unsigned: bytes, verifier: str) -> None:
    pki = init_demo_pki(tmp_path / "pki", [MARTIN])
    pdf = sign(pki, unsigned)  # signed while still valid
    if verifier == "pyhanko":
        assert verify_pdf(pdf, trust_roots=[pki.ca_path]).ok
    else:
        assert pdfsig(pdf, tmp_path, trusting=pki).ok
    pki.revoke(pki.credential(MARTIN[1]).serial_number)
    if verifier == "pyhanko":
        result = verify_pdf(pdf, trust_roots=[pki.ca_path])
        assert result.revoked and not result.trusted and not result.ok
    else:
        report = pdfsig(pdf, tmp_path, trusting=pki)  # the new CRL
        assert report.signature_valid and report.certificate == "Certificate has been Revoked.", report.output
    with pytest.raises(SignatureRefused, match="révoqué"):
        sign(pki, unsigned)


@pytest.mark.parametrize("verifier", VERIFIERS)
def test_expired_certificate(pki: DemoPki, unsigned: bytes, monkeypatch: pytest.MonkeyPatch,
                             tmp_path: Path, verifier: str) -> None:
    now = datetime.now(UTC)
    cred = pki.issue("Claire Martin", MARTIN[1], not_before=now - timedelta(days=400),
                     not_after=now - timedelta(days=1), filename="expired", register=False)
    signer = Pkcs12Signer(cred.p12_path, cred.passphrase, trust_ca=pki.ca_path, crl=pki.crl_path)
    with pytest.raises(SignatureRefused, match="expiré"):
        signer.sign(unsigned, signer_name="Dr Claire MARTIN", reason="r", location="l")
    # An expired certificate that signed anyway (another tool) is reported by the verifier.
    monkeypatch.setattr(pades_mod, "check_signing_certificate", lambda *a, **k: None)
    pdf = signer.sign(unsigned, signer_name="Dr Claire MARTIN", reason="r", location="l")
    if verifier == "pyhanko":
        result = verify_pdf(pdf, trust_roots=[pki.ca_path])
        assert result.intact and result.expired and not result.trusted and not result.ok
    else:
        report = pdfsig(pdf, tmp_path, trusting=pki)
        assert report.signature_valid and report.certificate == "Certificate has Expired", report.output


def test_not_yet_valid_certificate(pki: DemoPki, unsigned: bytes) -> None:
    now = datetime.now(UTC)
    cred = pki.issue("Claire Martin", MARTIN[1], not_before=now + timedelta(days=2), filename="future",
                     register=False)
    signer = Pkcs12Signer(cred.p12_path, cred.passphrase, trust_ca=pki.ca_path, crl=pki.crl_path)
    with pytest.raises(SignatureRefused, match="pas encore valide"):
        signer.sign(unsigned, signer_name="Dr Claire MARTIN", reason="r", location="l")


def test_certificate_of_another_physician_is_refused(pki: DemoPki, unsigned: bytes) -> None:
    signer = signer_for(pki, BERNARD[1])
    with pytest.raises(SignatureRefused, match="pas au médecin signataire attendu") as err:
        signer.sign(unsigned, signer_name="Dr Claire MARTIN", reason="r", location="l",
                    expected_id_nat=MARTIN[1])
    assert err.value.status_code == 422


def test_certificate_from_another_ca_is_refused(pki: DemoPki, unsigned: bytes, tmp_path: Path) -> None:
    other = init_demo_pki(tmp_path / "other", [MARTIN], ca_name="AC pirate")
    cred = other.credential(MARTIN[1])
    signer = Pkcs12Signer(cred.p12_path, cred.passphrase, trust_ca=pki.ca_path)
    with pytest.raises(SignatureRefused, match="autorité de certification"):
        signer.sign(unsigned, signer_name="Dr Claire MARTIN", reason="r", location="l")


def test_wrong_passphrase(pki: DemoPki) -> None:
    with pytest.raises(SignatureRefused, match="phrase secrète"):
        Pkcs12Signer(pki.credential(MARTIN[1]).p12_path, "mauvaise")


def test_timestamped_signature_b_t(pki: DemoPki, unsigned: bytes) -> None:
    tsa_cert, tsa_key = pki.issue_tsa()
    stamper = DummyTimeStamper(
        tsa_cert=asn1_cert(tsa_cert),
        tsa_key=load_private_key_from_pemder_data(
            tsa_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()), passphrase=None
        ),
    )
    pdf = sign(pki, unsigned, timestamper=stamper)
    result = verify_pdf(pdf, trust_roots=[pki.ca_path])
    assert result.ok and result.timestamped, result


def test_unsigned_pdf(pki: DemoPki, unsigned: bytes) -> None:
    result = verify_pdf(unsigned, trust_roots=[pki.ca_path])
    assert result.signature_count == 0 and not result.ok
    assert result.summary_fr() == "Le document n'est pas signé."


def asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))


def test_signing_works_inside_a_running_event_loop(pki: DemoPki, unsigned: bytes) -> None:
    """An async web handler or a browser-test driver has a running loop; pyHanko's own asyncio.run must not
    collide with it."""
    import asyncio

    async def sign_in_loop() -> bytes:
        return sign(pki, unsigned)

    signed_pdf = asyncio.run(sign_in_loop())
    assert verify_pdf(signed_pdf, trust_roots=[pki.ca_path]).ok


# ---------------------------------------------------------------- stamp font (embedded subset, cached)


def _stamp_font_program(pdf: bytes) -> bytes:
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        font = doc.Root.AcroForm.Fields[0].AP.N.Resources.Font.F1
        return bytes(font.DescendantFonts[0].FontDescriptor.FontFile2.read_bytes())


def test_stamp_font_subset_is_cached_and_holds_the_stamp_glyphs(pki: DemoPki, unsigned: bytes,
                                                                tmp_path: Path) -> None:
    from fontTools.ttLib import TTFont

    font_path = tmp_path / "stamp.ttf"  # a file of its own: a fresh cache for this test
    font_path.write_bytes(pades_mod._default_font().read_bytes())
    cache = pades_mod.stamp_font(font_path).programs
    signer = signer_for(pki, MARTIN[1], font_path=font_path)
    kw = {"reason": "Validation de la fiche RCP", "location": "CHU d'Angers"}
    first = signer.sign(unsigned, signer_name="Dr Claire MARTIN", **kw)
    second = signer.sign(unsigned, signer_name="Dr Claire MARTIN", **kw)
    assert cache.misses == 1  # one subset for a batch signed by one physician
    name = "Dr Łukasz ØSTERGÅRD-Œuvray"
    third = signer.sign(unsigned, signer_name=name, **kw)
    assert cache.misses == 2  # new letters, new subset
    for pdf, who in ((first, "Dr Claire MARTIN"), (second, "Dr Claire MARTIN"), (third, name)):
        assert verify_pdf(pdf, trust_roots=[pki.ca_path]).ok
        program = _stamp_font_program(pdf)
        tt = TTFont(io.BytesIO(program))
        cmap, glyf = tt.getBestCmap(), tt["glyf"]
        text = f"Signé électroniquement par {who} le 0123456789/: Motif : {kw['reason']} Lieu : {kw['location']}"
        for ch in set(text) - {" "}:
            assert ord(ch) in cmap, ch
            assert glyf[cmap[ord(ch)]].numberOfContours != 0, ch  # the outline is kept
        assert ord("Z") not in cmap  # a letter the stamp does not use is dropped
        assert len(program) < font_path.stat().st_size / 2
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", "-", "-"], input=third, capture_output=True, check=True).stdout
        assert f"Signé électroniquement par {name}" in text.decode("utf-8")


def test_concurrent_signatures_share_the_stamp_font_safely(pki: DemoPki, unsigned: bytes) -> None:
    """The web app signs in worker threads: the parsed stamp font and its subset cache are shared."""
    from concurrent.futures import ThreadPoolExecutor

    signer = signer_for(pki, MARTIN[1])
    names = [f"Dr Claire MARTIN-{chr(ord('A') + i)}" for i in range(8)]  # new glyphs: concurrent cache misses
    with ThreadPoolExecutor(max_workers=4) as pool:
        pdfs = list(pool.map(lambda name: (name, signer.sign(unsigned, signer_name=name, reason="r",
                                                             location="l")), names))
    for name, pdf in pdfs:
        assert verify_pdf(pdf, trust_roots=[pki.ca_path]).ok
        with pikepdf.open(io.BytesIO(pdf)) as doc:
            stamp = doc.Root.AcroForm.Fields[0].AP.N
            texts = [str(operands[1].ActualText) for operands, op in pikepdf.parse_content_stream(stamp)
                     if str(op) == "BDC" and "/ActualText" in operands[1]]
        assert f"Signé électroniquement par {name}" in texts
