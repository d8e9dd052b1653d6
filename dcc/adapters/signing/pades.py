"""PAdES signing (baseline B-B, or B-T with a time-stamping authority) and verification with pyHanko.

The signature is an incremental update of the final PDF/A: the original bytes are kept as they are,
so the XMP `pdfaid` declaration survives. Never rewrite a signed PDF (pikepdf/pypdf save) afterwards.

The visible signature is drawn where the template put the named destination `dcc-signature`
(80 mm x 28 mm box); without it, at the bottom left of the last page.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import io
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

from asn1crypto import crl as asn1_crl
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.sign import fields, signers, timestamps
from pyhanko.sign.attributes import CMSAttributeProvider, SignedAttributeProviderSpec
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.general import as_signing_certificate_v2
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator import ValidationContext

from dcc.adapters.signing.stamp_font import StampFontFactory
from dcc.errors import SignatureRefused, SigningServiceUnavailable

T = TypeVar("T")

log = logging.getLogger(__name__)

SIGNATURE_ANCHOR = "dcc-signature"
FIELD_NAME = "Signature_DCC"
MM = 72 / 25.4
STAMP_WIDTH_PT = 80 * MM
STAMP_HEIGHT_PT = 28 * MM
PARIS = ZoneInfo("Europe/Paris")


def _default_font() -> Path:
    from dcc.adapters.rendering.pdf import default_templates_dir

    return default_templates_dir() / "fonts" / "DCCStampSans.ttf"


class PdfSigner(Protocol):
    def sign(self, pdf: bytes, *, signer_name: str, reason: str, location: str) -> bytes: ...


# ---------------------------------------------------------------- certificate checks (before signing)


def cert_id_nat(cert: x509.Certificate) -> str:
    """The national id (`8` + RPPS) carried by the subject serialNumber (or pseudonym) attribute."""
    for oid in (NameOID.SERIAL_NUMBER, NameOID.PSEUDONYM):
        attrs = cert.subject.get_attributes_for_oid(oid)
        if attrs:
            return str(attrs[0].value)
    return ""


def cert_common_name(cert: x509.Certificate) -> str:
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else ""


def _fmt(dt: datetime) -> str:
    return dt.astimezone(PARIS).strftime("%d/%m/%Y à %H:%M")


def check_signing_certificate(
    cert: x509.Certificate,
    *,
    at: datetime,
    expected_id_nat: str | None = None,
    trust_ca: x509.Certificate | None = None,
    crl: x509.CertificateRevocationList | None = None,
) -> None:
    """Raises SignatureRefused (French message) when this certificate must not sign now."""
    if at < cert.not_valid_before_utc:
        raise SignatureRefused(
            f"Signature refusée : le certificat de signature n'est pas encore valide "
            f"(valide à partir du {_fmt(cert.not_valid_before_utc)})."
        )
    if at > cert.not_valid_after_utc:
        raise SignatureRefused(
            f"Signature refusée : le certificat de signature a expiré le {_fmt(cert.not_valid_after_utc)}."
        )
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        if not ku.content_commitment:
            raise SignatureRefused(
                "Signature refusée : le certificat n'autorise pas la signature à valeur probante "
                "(non-répudiation)."
            )
    except x509.ExtensionNotFound:
        pass
    if expected_id_nat is not None and cert_id_nat(cert) != expected_id_nat:
        raise SignatureRefused(
            f"Signature refusée : le certificat appartient à « {cert_common_name(cert)} » "
            f"(identifiant {cert_id_nat(cert) or 'absent'}), pas au médecin signataire attendu "
            f"(identifiant {expected_id_nat})."
        )
    if trust_ca is not None:
        try:
            cert.verify_directly_issued_by(trust_ca)
        except Exception as exc:
            raise SignatureRefused(
                "Signature refusée : le certificat n'a pas été émis par l'autorité de certification reconnue."
            ) from exc
    if crl is not None:
        if crl.issuer != cert.issuer:
            raise SignatureRefused(
                "Signature refusée : la liste de révocation fournie ne provient pas "
                "de l'autorité du certificat."
            )
        if trust_ca is not None and not crl.is_signature_valid(trust_ca.public_key()):  # type: ignore[arg-type]
            raise SignatureRefused("Signature refusée : la liste de révocation n'est pas authentique.")
        nxt = crl.next_update_utc
        if nxt is not None and nxt < at:
            raise SignatureRefused(
                f"Signature refusée : la liste de révocation est périmée depuis le {_fmt(nxt)}."
            )
        revoked = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if revoked is not None:
            raise SignatureRefused(
                f"Signature refusée : le certificat de signature a été révoqué le "
                f"{_fmt(revoked.revocation_date_utc)}."
            )


def _load_crl(path: Path) -> x509.CertificateRevocationList:
    data = path.read_bytes()
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_crl(data)
    return x509.load_der_x509_crl(data)


def _load_cert(path: Path) -> x509.Certificate:
    data = path.read_bytes()
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


# ---------------------------------------------------------------- placement of the visible signature


def _page_refs(reader: PdfFileReader) -> list[int]:
    out: list[int] = []

    def walk(node_ref: Any) -> None:
        node = node_ref.get_object()
        if node.get("/Type") == "/Pages":
            kids = node["/Kids"]
            for i in range(len(kids)):
                walk(kids.raw_get(i))
        else:
            out.append(node_ref.idnum)

    walk(reader.root.raw_get("/Pages"))
    return out


def _find_named_dest(reader: PdfFileReader, name: str) -> Any | None:
    try:
        tree = reader.root["/Names"]["/Dests"]
    except KeyError:
        return None

    def search(node: Any) -> Any | None:
        if "/Names" in node:
            names = node["/Names"]
            for i in range(0, len(names) - 1, 2):
                if str(names[i]) == name:
                    dest = names[i + 1]
                    return dest["/D"] if isinstance(dest, generic.DictionaryObject) else dest
        for kid in node.get("/Kids", ()):
            found = search(kid)
            if found is not None:
                return found
        return None

    return search(tree)


def signature_box(reader: PdfFileReader) -> tuple[int, tuple[int, int, int, int]]:
    """(page index, (x1, y1, x2, y2)) where the visible signature goes."""
    pages = _page_refs(reader)
    dest = _find_named_dest(reader, SIGNATURE_ANCHOR)
    if dest is not None and len(dest) >= 4 and str(dest[1]) == "/XYZ":
        page_ref = dest.raw_get(0)
        if isinstance(page_ref, generic.IndirectObject | generic.Reference) and page_ref.idnum in pages:
            left, top = float(dest[2]), float(dest[3])
            return pages.index(page_ref.idnum), (
                round(left), round(top - STAMP_HEIGHT_PT), round(left + STAMP_WIDTH_PT), round(top)
            )
    left, bottom = 15 * MM, 20 * MM
    return len(pages) - 1, (round(left), round(bottom), round(left + STAMP_WIDTH_PT),
                            round(bottom + STAMP_HEIGHT_PT))


# ---------------------------------------------------------------- signature (shared by every local signer)


def stamp_font(font_path: Path | None = None) -> StampFontFactory:
    """The font of the visible signature block (embedded subset), one per font file for the process so
    that every signer shares its cache of subsets."""
    return _stamp_font(font_path or _default_font())


@functools.lru_cache(maxsize=8)
def _stamp_font(path: Path) -> StampFontFactory:
    return StampFontFactory(path, font_size=8)


def sign_pades(
    pdf: bytes,
    signer: signers.Signer,
    *,
    signer_name: str,
    reason: str,
    location: str,
    font: StampFontFactory,
    timestamper: timestamps.TimeStamper | None = None,
    at: datetime,
) -> bytes:
    """PAdES signature of `pdf` as an incremental update, with the visible signature block.

    Callers check the signing certificate first (check_signing_certificate); `signer` is any pyHanko
    signer (PKCS#12 file, PKCS#11 token).
    """
    if signer.signed_attr_prov_spec is None and signer.signing_cert is not None:
        signer.signed_attr_prov_spec = _pades_attributes(signer.signing_cert.dump())
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    page_ix, box = signature_box(writer.prev)
    meta = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME,
        md_algorithm="sha256",
        subfilter=SigSeedSubFilter.PADES,
        reason=reason,
        location=location,
        name=signer_name,
    )
    stamp = TextStampStyle(
        stamp_text=(
            "Signé électroniquement par %(signataire)s\nle %(quand)s\n"
            "Motif : %(motif)s\nLieu : %(lieu)s"
        ),
        text_box_style=TextBoxStyle(font=font, font_size=8, leading=10),
        border_width=1,
        background=None,
    )
    pdf_signer = signers.PdfSigner(
        meta,
        signer=signer,
        timestamper=timestamper,
        stamp_style=stamp,
        new_field_spec=fields.SigFieldSpec(sig_field_name=FIELD_NAME, on_page=page_ix, box=box),
    )
    params = {"signataire": signer_name, "quand": _fmt(at), "motif": reason, "lieu": location}
    # The CMS container's size is reserved from the certificates it carries: otherwise pyHanko signs a
    # dummy container first to measure it (a third of the signing time).
    reserved = cms_reservation(signer, timestamped=timestamper is not None)
    try:
        out = _outside_event_loop(lambda: pdf_signer.sign_pdf(writer, appearance_text_params=params,
                                                               bytes_reserved=reserved))
    except Exception as exc:
        if _caused_by(exc, TimestampRequestError):
            raise SigningServiceUnavailable(
                "Signature impossible pour l'instant : l'autorité d'horodatage ne répond pas ou a refusé la "
                "demande. Rien n'a été signé ; réessayez plus tard."
            ) from exc
        raise
    return bytes(out.getvalue())


def _caused_by(exc: BaseException, cls: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, cls):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class _SigningCertificateV2Once(CMSAttributeProvider):
    """The signing-certificate-v2 attribute, encoded once per signer: pyHanko rebuilds it from the parsed
    certificate at every signature and asn1crypto then re-encodes it several times (a quarter of the
    signing time); a value loaded from its encoding is written back as is."""

    attribute_type = "signing_certificate_v2"

    def __init__(self, cert: asn1_x509.Certificate) -> None:
        self._der = as_signing_certificate_v2(cert).dump()

    async def build_attr_value(self, dry_run: bool = False) -> tsp.SigningCertificateV2:
        return tsp.SigningCertificateV2.load(self._der)


class PadesSignedAttributes(SignedAttributeProviderSpec):
    """The signed attributes of a PAdES baseline signature beyond content-type and message-digest (which
    pyHanko always adds): signing-certificate-v2 only, as pyHanko's CAdES spec yields for PAdES without
    CAdES extras (no signing-time: PAdES forbids it; the time is the signature dictionary's /M)."""

    def __init__(self, cert: asn1_x509.Certificate) -> None:
        self._signing_certificate = _SigningCertificateV2Once(cert)

    def signed_attr_providers(self, data_digest: bytes, digest_algorithm: str) -> Iterator[CMSAttributeProvider]:
        yield self._signing_certificate


@functools.lru_cache(maxsize=64)
def _pades_attributes(cert_der: bytes) -> PadesSignedAttributes:
    """One attribute spec per signing certificate for the process (a PKCS#11 signer object is created per
    signature: its certificate's attribute is still encoded once)."""
    return PadesSignedAttributes(asn1_x509.Certificate.load(cert_der))


def cms_reservation(signer: signers.Signer, *, timestamped: bool) -> int:
    """Bytes to reserve for the CMS signature container: the certificates it embeds, plus room for the
    signed attributes and the signature value (4 KiB covers RSA-4096), plus a time-stamp token (with the
    authority's own certificates) when one is requested."""
    certs = list(signer.cert_registry)
    if signer.signing_cert is not None:
        certs.append(signer.signing_cert)
    size = sum(len(c.dump()) for c in certs) + 4096 + (16384 if timestamped else 0)
    return -(-size // 1024) * 1024


def _outside_event_loop(call: Callable[[], T]) -> T:
    """pyHanko's synchronous API runs its own event loop (asyncio.run), which fails inside a running loop
    (an async web handler, a browser-test driver): then run it in a worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return call()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result()


# ---------------------------------------------------------------- signer


class LocalSigner:
    """What the signers holding the key here (PKCS#12 file, PKCS#11 token) share: the refusal checks before
    each signature (dates, expected physician, CA, CRL) and the signature options (time-stamping, stamp
    font)."""

    certificate: x509.Certificate
    id_nat: str | None

    def _configure(self, *, id_nat: str | None, trust_ca: Path | None, crl: Path | None, tsa_url: str | None,
                   timestamper: timestamps.TimeStamper | None, font_path: Path | None) -> None:
        self.id_nat = id_nat
        self._trust_ca = _load_cert(trust_ca) if trust_ca else None
        self._crl_path = crl
        if timestamper is None and tsa_url:
            timestamper = timestamps.HTTPTimeStamper(tsa_url, timeout=10)
        self._timestamper = timestamper
        self._font = stamp_font(font_path)

    def _check_now(self, expected_id_nat: str | None) -> datetime:
        """Refuses (SignatureRefused) when this certificate must not sign now; returns the signing time."""
        now = datetime.now(UTC)
        check_signing_certificate(
            self.certificate,
            at=now,
            expected_id_nat=expected_id_nat if expected_id_nat is not None else self.id_nat,
            trust_ca=self._trust_ca,
            crl=_load_crl(self._crl_path) if self._crl_path else None,
        )
        return now

    def _sign_pades(self, pdf: bytes, signer: signers.Signer, *, signer_name: str, reason: str, location: str,
                    at: datetime) -> bytes:
        return sign_pades(pdf, signer, signer_name=signer_name, reason=reason, location=location,
                          font=self._font, timestamper=self._timestamper, at=at)


class Pkcs12Signer(LocalSigner):
    """Signs with a PKCS#12 credential (demo PKI, or a platform seal certificate)."""

    def __init__(
        self,
        p12_path: Path,
        passphrase: str | bytes,
        *,
        id_nat: str | None = None,
        trust_ca: Path | None = None,
        crl: Path | None = None,
        tsa_url: str | None = None,
        timestamper: timestamps.TimeStamper | None = None,
        font_path: Path | None = None,
    ) -> None:
        pw = passphrase.encode("utf-8") if isinstance(passphrase, str) else passphrase
        ca_certs = [load_cert_from_pemder(str(trust_ca))] if trust_ca else []
        signer = signers.SimpleSigner.load_pkcs12(str(p12_path), passphrase=pw, ca_chain_files=None)
        if signer is None:
            raise SignatureRefused(
                "Signature refusée : impossible d'ouvrir le certificat de signature "
                "(fichier ou phrase secrète)."
            )
        if ca_certs:
            signer.cert_registry.register_multiple(ca_certs)
        self._signer = signer
        assert signer.signing_cert is not None
        self.certificate = x509.load_der_x509_certificate(signer.signing_cert.dump())
        self._configure(id_nat=id_nat, trust_ca=trust_ca, crl=crl, tsa_url=tsa_url, timestamper=timestamper,
                        font_path=font_path)

    def sign(
        self,
        pdf: bytes,
        *,
        signer_name: str,
        reason: str,
        location: str,
        expected_id_nat: str | None = None,
    ) -> bytes:
        now = self._check_now(expected_id_nat)
        return self._sign_pades(pdf, self._signer, signer_name=signer_name, reason=reason, location=location,
                                at=now)


# ---------------------------------------------------------------- verification


@dataclass(frozen=True)
class VerificationResult:
    signer_name: str
    signer_id_nat: str
    signing_time: datetime | None
    timestamped: bool
    intact: bool
    valid: bool
    trusted: bool
    covers_entire_file: bool
    coverage: str
    modification_level: str
    revoked: bool
    expired: bool
    problem: str  # AdES sub-indication when not trusted, e.g. "REVOKED", "OUT_OF_BOUNDS_NO_POE"
    signature_count: int

    @property
    def ok(self) -> bool:
        return self.intact and self.valid and self.trusted and self.covers_entire_file

    def summary_fr(self) -> str:
        if self.signature_count == 0:
            return "Le document n'est pas signé."
        if not self.intact or not self.valid:
            return "Signature invalide : le document a été modifié après la signature."
        if not self.covers_entire_file:
            return "Signature valide, mais le document a été complété après la signature."
        if self.revoked:
            return "Signature non reconnue : le certificat du signataire est révoqué."
        if self.expired:
            return "Signature non reconnue : le certificat du signataire est expiré ou pas encore valide."
        if not self.trusted:
            return "Signature non reconnue : le certificat n'émane pas d'une autorité de confiance."
        return f"Signature valide de {self.signer_name}."


_UNSIGNED = VerificationResult("", "", None, False, False, False, False, False, "", "", False, False,
                               "NO_SIGNATURE", 0)


def verify_pdf(
    pdf: bytes, *, trust_roots: list[Path], crls: list[Path] | None = None
) -> VerificationResult:
    """Validates the last signature of `pdf` offline.

    CRLs: those given, or else any `crl.pem` next to a trust root (the demo PKI layout). With CRLs
    the revocation mode is "require" (a certificate with no matching CRL fails), without them
    "soft-fail".
    """
    roots = [load_cert_from_pemder(str(p)) for p in trust_roots]
    crl_paths = crls if crls is not None else [
        p.parent / "crl.pem" for p in trust_roots if (p.parent / "crl.pem").exists()
    ]
    crl_objs = [asn1_crl.CertificateList.load(_load_crl(p).public_bytes(Encoding.DER)) for p in crl_paths]
    vc = ValidationContext(
        trust_roots=roots,
        crls=crl_objs,
        allow_fetching=False,
        revocation_mode="require" if crl_objs else "soft-fail",
    )
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    sigs = reader.embedded_signatures
    if not sigs:
        return _UNSIGNED
    emb = sigs[-1]
    status = validate_pdf_signature(emb, vc)
    cert = x509.load_der_x509_certificate(status.signing_cert.dump())
    indic = status.trust_problem_indic
    problem = str(getattr(indic, "name", indic)) if indic is not None else ""
    coverage = status.coverage.name if status.coverage is not None else ""
    modlevel = status.modification_level.name if status.modification_level is not None else ""
    ts = status.timestamp_validity
    return VerificationResult(
        signer_name=cert_common_name(cert),
        signer_id_nat=cert_id_nat(cert),
        signing_time=ts.timestamp if ts is not None else status.signer_reported_dt,
        timestamped=ts is not None,
        intact=bool(status.intact),
        valid=bool(status.valid),
        trusted=bool(status.trusted),
        covers_entire_file=coverage == "ENTIRE_FILE",
        coverage=coverage,
        modification_level=modlevel,
        revoked=status.revocation_details is not None or "REVOKED" in problem,
        expired="OUT_OF_BOUNDS" in problem or "EXPIRED" in problem,
        problem=problem,
        signature_count=len(sigs),
    )
