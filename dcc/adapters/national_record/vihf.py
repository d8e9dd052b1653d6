"""The VIHF (SAML 2 assertion in wsse:Security) and the sending structure's identity that signs it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import CanonicalizationMethod, DigestAlgorithm, SignatureMethod, XMLSigner, methods

from dcc.adapters.national_record.ebrim import DS, HL7, SAML, XSD, XSI, _q
from dcc.adapters.national_record.metadata import CodedValue, DocumentEntry
from dcc.errors import ConfigurationError

# VIHF: CI-SIS "Volet transport synchrone pour client lourd" and the agency's "Mapping VIHF pour le DMP" table
# (ansforge/IG-hl7v2-volet-transmission-document-cda-r2, input/pagecontent/mapping.md): "VIHF_Version :
# Constante 4.0", "Authentification_Mode : Constante INDIRECTE", "Ressource_URN : Constante urn:dmp".
VIHF_VERSION = "4.0"
AUTHENTICATION_MODE = "INDIRECTE"
RESOURCE_URN = "urn:dmp"
# Same table: subject-id is "urn:oasis:names:tc:xspa:1.0:subject:subject-id" = "Nom, Prénom et Service de
# l'utilisateur"; the roles are urn:oasis:names:tc:xacml:2.0:subject:role, 1st occurrence from TRE_G15
# (profession), 2nd "uniquement et obligatoirement pour les médecins" from TRE_R01_EnsembleSavoirFaire_CISIS.
SUBJECT_ID = "urn:oasis:names:tc:xspa:1.0:subject:subject-id"
SUBJECT_ROLE = "urn:oasis:names:tc:xacml:2.0:subject:role"
PURPOSE_OF_USE = "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse"
RESOURCE_ID = "urn:oasis:names:tc:xacml:2.0:resource:resource-id"
PURPOSE_OF_USE_SYSTEM = "1.2.250.1.213.1.1.4.248"  # TRE_R248-ModeAcces
ACTIVITY_SECTOR_SYSTEM = "1.2.250.1.71.4.2.4"
PROFESSION_SYSTEM = "1.2.250.1.71.1.2.7"  # TRE_G15-ProfessionSante
# TRE_R01-EnsembleSavoirFaire-CISIS: not in the kit; its OID is confirmed by the agency's FHIR CodeSystem
# TRE_R01_EnsembleSavoirFaire_CISIS (ANS, url https://mos.esante.gouv.fr/NOS/TRE_R01-EnsembleSavoirFaire-CISIS/FHIR/
# TRE-R01-EnsembleSavoirFaire-CISIS, identifier urn:oid:1.2.250.1.71.4.2.5, version 20260730120000)
SPECIALTY_SYSTEM = "1.2.250.1.71.4.2.5"
PHYSICIAN = "10"  # TRE_G15 "Médecin": the only profession (with pharmacists) that carries the 2nd role
# Conditions/@NotBefore and @NotOnOrAfter ("Facultatif" in the table): the assertion is valid from its
# issue instant for this long; the receiver refuses it outside the window.
VALIDITY = dt.timedelta(minutes=5)


# --- sending identity -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SenderIdentity:
    """The sending structure (indirect authentication): its Struct_IdNat and its signing key pair."""

    id_nat: str  # Struct_IdNat, e.g. "1" + FINESS
    name: str
    key_path: Path | None = None  # PEM private key (the demo identity)
    cert_path: Path | None = None  # PEM certificate
    activity_sector: str = "SA01"  # VIHF Secteur_Activite (TRE_R02-SecteurActivite)
    source_id: str = ""  # SubmissionSet.sourceId (OID of the sending system); derived if empty
    lps_name: str = "dcc"
    lps_version: str = "0.1.0"
    lps_homologation_id: str = "DCC-DEMO"
    # the structure's seal certificate (certificat de cachet serveur) and key, from a PKCS#12 file: used
    # instead of key_path / cert_path when set
    p12_path: Path | None = None
    p12_password: str = field(default="", repr=False)
    demo: bool = False  # the demo seal (make_demo_identity): refused in production
    trust_anchor: Path | None = None  # the CA that issued the demo seal (what a receiver must trust)

    @property
    def source_oid(self) -> str:
        return self.source_id or f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, 'dcc:' + self.id_nat).int}"

    def _p12(self) -> tuple[RSAPrivateKey | EllipticCurvePrivateKey, bytes]:
        assert self.p12_path is not None
        path = Path(self.p12_path)
        try:
            mtime = path.stat().st_mtime_ns
        except OSError as exc:
            raise ConfigurationError(f"Certificat de cachet serveur introuvable : {path}.") from exc
        return _load_p12(str(path.resolve()), mtime, self.p12_password)

    def _pem_path(self, path: Path | None, what: str) -> Path:
        if path is None:
            raise ConfigurationError(f"Identité d'envoi au DMP sans {what} (ni fichier PKCS#12).")
        return Path(path)

    def key_pem(self) -> bytes:
        if self.p12_path is not None:
            return self._p12()[0].private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption())
        return self._pem_path(self.key_path, "clé privée").read_bytes()

    def private_key(self) -> RSAPrivateKey | EllipticCurvePrivateKey:
        """The loaded private key (cached: loading an RSA key costs ~0.1 s)."""
        if self.p12_path is not None:
            return self._p12()[0]
        path = self._pem_path(self.key_path, "clé privée")
        return _load_key(str(path.resolve()), path.stat().st_mtime_ns)

    def cert_pem(self) -> bytes:
        if self.p12_path is not None:
            return self._p12()[1]
        return self._pem_path(self.cert_path, "certificat").read_bytes()


@lru_cache(maxsize=16)
def _load_key(path: str, mtime_ns: int) -> RSAPrivateKey | EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, RSAPrivateKey | EllipticCurvePrivateKey):
        raise ConfigurationError(f"La clé de signature {path} doit être une clé RSA ou EC.")
    return key


@lru_cache(maxsize=16)
def _load_p12(path: str, mtime_ns: int, password: str) -> tuple[RSAPrivateKey | EllipticCurvePrivateKey, bytes]:
    from cryptography.hazmat.primitives.serialization import pkcs12

    try:
        key, cert, _ = pkcs12.load_key_and_certificates(Path(path).read_bytes(), password.encode() or None)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"Certificat de cachet serveur illisible ({path}) : fichier PKCS#12 ou mot de "
                                 "passe incorrect.") from exc
    if not isinstance(key, RSAPrivateKey | EllipticCurvePrivateKey) or cert is None:
        raise ConfigurationError(f"Le fichier PKCS#12 {path} doit contenir une clé RSA ou EC et son certificat.")
    return key, cert.public_bytes(serialization.Encoding.PEM)


def make_demo_identity(directory: Path, name: str, id_nat: str, *, ca_dir: Path | None = None) -> SenderIdentity:
    """A SenderIdentity whose seal certificate (RSA, in `directory`) is issued by the demo CA of `ca_dir`
    (default `directory`; created when absent, see dcc.adapters.signing.pki). A receiver trusts it by trusting
    that CA (`trust_anchor`), as the DMP trusts the IGC Santé; created once, then reused while valid."""
    from dcc.adapters.signing.pki import init_demo_pki

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    pki = init_demo_pki(Path(ca_dir) if ca_dir is not None else directory, [])
    key_path, cert_path = directory / "vihf-key.pem", directory / "vihf-cert.pem"
    if not (key_path.exists() and cert_path.exists() and _issued_by(cert_path, pki.ca_cert)):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, id_nat),
                x509.NameAttribute(NameOID.COMMON_NAME, f"{name} (cachet de démonstration)"),
            ]
        )
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(pki.ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=730))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=True,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(pki.ca_key.public_key()),
                           critical=False)
            .sign(pki.ca_key, hashes.SHA256())
        )
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        key_path.chmod(0o600)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return SenderIdentity(id_nat=id_nat, name=name, key_path=key_path, cert_path=cert_path, demo=True,
                          trust_anchor=pki.ca_path)


def _issued_by(cert_path: Path, ca: x509.Certificate) -> bool:
    """Whether the certificate at `cert_path` is still valid and issued by `ca` (else a new one is issued)."""
    from cryptography.exceptions import InvalidSignature

    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    if cert.not_valid_after_utc <= dt.datetime.now(dt.UTC) + dt.timedelta(days=1):
        return False
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


# --- VIHF -------------------------------------------------------------------------------------------


def _vihf_attribute(statement: etree._Element, name: str, value: str | etree._Element) -> None:
    attribute = etree.SubElement(statement, _q(SAML, "Attribute"), Name=name)
    holder = etree.SubElement(attribute, _q(SAML, "AttributeValue"))
    if isinstance(value, str):
        holder.text = value
    else:
        holder.append(value)


def _ce(tag: str, code: str, system: str, display: str) -> etree._Element:
    el = etree.Element(_q(HL7, tag), nsmap={None: HL7, "xsi": XSI})
    el.set(_q(XSI, "type"), "CE")
    el.set("code", code)
    el.set("codeSystem", system)
    if display:
        el.set("displayName", display)
    return el


def _roles(specialty: CodedValue | None) -> list[etree._Element]:
    """subject:role values: the profession (G15), then the physician's know-how (R01) when the author is a
    physician with a specialty (mapping table: 2nd occurrence "uniquement et obligatoirement pour les
    médecins et pharmaciens")."""
    if specialty is None:
        return [_ce("Role", "AUTOMATE", "1.2.250.1.213.1.1.4.6", "Automate")]
    profession, _, speciality = specialty.code.partition("/")
    profession = profession.removeprefix("G15_")
    roles = [_ce("Role", profession, PROFESSION_SYSTEM, "")]
    if speciality and profession == PHYSICIAN:
        roles.append(_ce("Role", speciality, SPECIALTY_SYSTEM, specialty.display))
    return roles


def subject_name(author_person: str) -> str:
    """subject-id "Nom, Prénom" from the author's XCN (id^family^given^...). The user's service is not known
    to dcc and is left out rather than invented."""
    parts = author_person.split("^")
    family = parts[1] if len(parts) > 1 else ""
    given = parts[2] if len(parts) > 2 else ""
    return f"{family}, {given}" if given else family


def build_vihf(
    identity: SenderIdentity, entry: DocumentEntry, *, purpose_of_use: str = "normal"
) -> etree._Element:
    """The VIHF SAML 2 assertion, signed (enveloped XML-DSig, RSA-SHA256, exc-c14n) by the structure's seal
    certificate ("Signature XML-DSIG avec le certificat de cachet de la structure de soins")."""
    assertion_id = f"_{uuid.uuid4().hex}"
    issued = dt.datetime.now(dt.UTC).replace(microsecond=0)
    now = issued.strftime("%Y-%m-%dT%H:%M:%SZ")
    assertion = etree.Element(
        _q(SAML, "Assertion"),
        nsmap={"saml": SAML, "xsi": XSI, "xs": XSD},
        ID=assertion_id,
        IssueInstant=now,
        Version="2.0",
    )
    cert = x509.load_pem_x509_certificate(identity.cert_pem())
    issuer = etree.SubElement(
        assertion, _q(SAML, "Issuer"), Format="urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"
    )
    issuer.text = cert.subject.rfc4514_string()
    # Placeholder so that signxml puts ds:Signature right after Issuer, as the SAML schema requires.
    etree.SubElement(assertion, _q(DS, "Signature"), nsmap={"ds": DS}, Id="placeholder")
    subject = etree.SubElement(assertion, _q(SAML, "Subject"))
    name_id = etree.SubElement(
        subject, _q(SAML, "NameID"), Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
    )
    name_id.text = entry.author_id
    # no AudienceRestriction ("Ne pas renseigner")
    etree.SubElement(assertion, _q(SAML, "Conditions"), NotBefore=now,
                     NotOnOrAfter=(issued + VALIDITY).strftime("%Y-%m-%dT%H:%M:%SZ"))
    authn = etree.SubElement(assertion, _q(SAML, "AuthnStatement"), AuthnInstant=now)
    context = etree.SubElement(authn, _q(SAML, "AuthnContext"))
    etree.SubElement(
        context, _q(SAML, "AuthnContextClassRef")
    ).text = "urn:oasis:names:tc:SAML:2.0:ac:classes:TLSClient"
    statement = etree.SubElement(assertion, _q(SAML, "AttributeStatement"))
    _vihf_attribute(statement, "Identifiant_Structure", identity.id_nat)
    _vihf_attribute(statement, "Secteur_Activite", f"{identity.activity_sector}^{ACTIVITY_SECTOR_SYSTEM}")
    _vihf_attribute(statement, SUBJECT_ID, subject_name(entry.author_person))
    role_attr = etree.SubElement(statement, _q(SAML, "Attribute"), Name=SUBJECT_ROLE)
    for role in _roles(entry.author_specialty):
        etree.SubElement(role_attr, _q(SAML, "AttributeValue")).append(role)
    _vihf_attribute(statement, "VIHF_Version", VIHF_VERSION)
    _vihf_attribute(statement, "Authentification_Mode", AUTHENTICATION_MODE)
    _vihf_attribute(statement, RESOURCE_ID, entry.patient_id)
    _vihf_attribute(statement, "Ressource_URN", RESOURCE_URN)
    _vihf_attribute(
        statement,
        PURPOSE_OF_USE,
        _ce(
            "PurposeOfUse",
            purpose_of_use,
            PURPOSE_OF_USE_SYSTEM,
            "Accès normal" if purpose_of_use == "normal" else "",
        ),
    )
    _vihf_attribute(statement, "LPS_Nom", identity.lps_name)
    _vihf_attribute(statement, "LPS_Version", identity.lps_version)
    _vihf_attribute(statement, "LPS_ID_HOMOLOGATION_DMP", identity.lps_homologation_id)

    signer = XMLSigner(
        method=methods.enveloped,
        signature_algorithm=SignatureMethod.RSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    signed: etree._Element = signer.sign(
        assertion,
        key=identity.private_key(),
        cert=identity.cert_pem().decode("ascii"),
        reference_uri=f"#{assertion_id}",
        id_attribute="ID",
    )
    return signed

