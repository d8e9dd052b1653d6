"""Demo PKI: a local CA, one PKCS#12 signing certificate per physician, and a CRL.

DEMO ONLY. The CA key is stored unencrypted and each PKCS#12 passphrase sits in a JSON file next
to it. In production, physicians sign with their CPS card (PKCS#11), a remote signature service, or
the platform seals with its IGC Santé certificate.

Layout of `directory`:
    ca.pem, ca.key              the demo CA (EC P-256)
    crl.pem                     CRL signed by the CA (regenerated on `revoke` and when outdated)
    revoked.json                serials revoked so far (source of the CRL)
    <id_nat>.p12, <id_nat>.json PKCS#12 of a physician and {"name", "id_nat", "passphrase"}
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CRL_URL = "http://pki.dcc.invalid/crl.pem"  # never fetched (validation runs with allow_fetching=False)
CRL_LIFETIME = timedelta(days=30)
DEFAULT_CA_NAME = "AC de démonstration DCC"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Credential:
    """A physician's demo signing credential."""

    name: str
    id_nat: str
    p12_path: Path
    passphrase: str
    serial_number: int
    cert_path: Path


@dataclass
class DemoPki:
    directory: Path
    ca_cert: x509.Certificate
    ca_key: ec.EllipticCurvePrivateKey
    credentials: dict[str, Credential] = field(default_factory=dict)

    @property
    def ca_path(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def crl_path(self) -> Path:
        return self.directory / "crl.pem"

    def credential(self, id_nat: str) -> Credential:
        return self.credentials[id_nat]

    # -- issuing

    def issue(
        self,
        name: str,
        id_nat: str,
        *,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        non_repudiation: bool = True,
        filename: str | None = None,
        register: bool = True,
    ) -> Credential:
        """Issues a new certificate + PKCS#12 (tests use it for expired / not-yet-valid / revoked cases)."""
        now = _now()
        not_before = not_before or now - timedelta(days=1)
        not_after = not_after or now + timedelta(days=3 * 365)
        key = ec.generate_private_key(ec.SECP256R1())
        subject = _demo_name(name, x509.NameAttribute(NameOID.SERIAL_NUMBER, id_nat),
                             x509.NameAttribute(NameOID.PSEUDONYM, id_nat))
        serial = x509.random_serial_number()
        cert = (
            self._end_entity(subject, key, serial=serial, not_before=not_before, not_after=not_after,
                             non_repudiation=non_repudiation)
            .add_extension(_cdp(), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(self._authority_key_id(), critical=False)
            .sign(self.ca_key, hashes.SHA256())
        )
        passphrase = secrets.token_urlsafe(18)
        stem = filename or id_nat
        p12_path = self.directory / f"{stem}.p12"
        p12_path.write_bytes(
            pkcs12.serialize_key_and_certificates(
                name.encode("utf-8"), key, cert, [self.ca_cert],
                serialization.BestAvailableEncryption(passphrase.encode("utf-8")),
            )
        )
        p12_path.chmod(0o600)
        cert_path = self.directory / f"{stem}.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        meta = self.directory / f"{stem}.json"
        meta.write_text(json.dumps({"name": name, "id_nat": id_nat, "passphrase": passphrase}),
                        encoding="utf-8")
        meta.chmod(0o600)
        cred = Credential(name=name, id_nat=id_nat, p12_path=p12_path, passphrase=passphrase,
                          serial_number=serial, cert_path=cert_path)
        if register:
            self.credentials[id_nat] = cred
        return cred

    def issue_tsa(self) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
        """A time-stamping unit certificate (RSA: pyHanko's DummyTimeStamper is RSA-only)."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([
                x509.NameAttribute(NameOID.COMMON_NAME, "Horodatage de démonstration DCC"),
            ]))
            .issuer_name(self.ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
            .add_extension(_cdp(), critical=False)
            .sign(self.ca_key, hashes.SHA256())
        )
        return cert, key

    def issue_tls(self, common_name: str, *, server: bool, hosts: tuple[str, ...] = (),
                  stem: str, organization: str = "DCC démonstration", unit: str = "") -> tuple[Path, Path]:
        """A TLS certificate (EC P-256) for the simulator's HTTPS (`server`: serverAuth, `hosts` as DNS names
        or IP addresses in the subjectAltName) or for dcc's connection to it (clientAuth; a region's names its
        structure: `organization` and its identifier as `unit`, as the seal certificate does). Written as
        `tls/<stem>.pem` and `tls/<stem>.key` (PEM, key 0600); returns (certificate path, key path)."""
        import ipaddress

        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        builder = (
            self._end_entity(x509.Name([
                x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
                *([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit)] if unit else []),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            ]), key, serial=x509.random_serial_number(),
                not_before=now - timedelta(days=1), not_after=now + timedelta(days=365))
            .add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(self._authority_key_id(), critical=False)
        )
        if hosts:
            names: list[x509.GeneralName] = []
            for host in hosts:
                try:
                    names.append(x509.IPAddress(ipaddress.ip_address(host)))
                except ValueError:
                    names.append(x509.DNSName(host))
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(self.ca_key, hashes.SHA256())
        folder = self.directory / "tls"
        folder.mkdir(exist_ok=True)
        cert_path, key_path = folder / f"{stem}.pem", folder / f"{stem}.key"
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        key_path.chmod(0o600)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cert_path, key_path

    def _end_entity(self, subject: x509.Name, key: ec.EllipticCurvePrivateKey, *, serial: int,
                    not_before: datetime, not_after: datetime,
                    non_repudiation: bool = False) -> x509.CertificateBuilder:
        """What every end-entity certificate of the demo CA starts with (physician signing, TLS): subject,
        issuer, key, serial, validity, not a CA, a digital-signature key usage (with non-repudiation for a
        signature that commits its author). The caller adds its own extensions, then signs."""
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(digital_signature=True, content_commitment=non_repudiation), critical=True)
        )

    def _authority_key_id(self) -> x509.AuthorityKeyIdentifier:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca_key.public_key())

    # -- revocation

    def revoke(self, serial_number: int, *, when: datetime | None = None) -> None:
        revoked = self._revoked()
        revoked[str(serial_number)] = (when or _now()).isoformat()
        (self.directory / "revoked.json").write_text(json.dumps(revoked), encoding="utf-8")
        self.write_crl()

    def _revoked(self) -> dict[str, str]:
        path = self.directory / "revoked.json"
        if not path.exists():
            return {}
        data: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
        return data

    def write_crl(self) -> Path:
        now = _now()
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.ca_cert.subject)
            .last_update(now - timedelta(minutes=5))
            .next_update(now + CRL_LIFETIME)
            .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
            .add_extension(self._authority_key_id(), critical=False)
        )
        for serial, when in self._revoked().items():
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(int(serial))
                .revocation_date(datetime.fromisoformat(when))
                .build()
            )
        crl = builder.sign(self.ca_key, hashes.SHA256())
        self.crl_path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
        return self.crl_path


def _cdp() -> x509.CRLDistributionPoints:
    # A CDP makes pyHanko's revocation check apply to the certificate (without it, soft/hard-fail
    # modes ignore a supplied CRL).
    return x509.CRLDistributionPoints([
        x509.DistributionPoint(full_name=[x509.UniformResourceIdentifier(CRL_URL)], relative_name=None,
                               reasons=None, crl_issuer=None)
    ])


def _key_usage(*, digital_signature: bool = False, content_commitment: bool = False, key_cert_sign: bool = False,
               crl_sign: bool = False) -> x509.KeyUsage:
    """A key usage with only the named bits set (the demo PKI never enciphers nor agrees keys)."""
    return x509.KeyUsage(digital_signature=digital_signature, content_commitment=content_commitment,
                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                         key_cert_sign=key_cert_sign, crl_sign=crl_sign, encipher_only=False, decipher_only=False)


def _demo_name(common_name: str, *extra: x509.NameAttribute) -> x509.Name:
    """A subject of the demo PKI: country FR, organisation "DCC démonstration", the common name, then `extra`."""
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "DCC démonstration"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        *extra,
    ])


def _new_ca(name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _demo_name(name)
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=10 * 365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def init_demo_pki(
    directory: Path, physicians: list[tuple[str, str]], *, ca_name: str = DEFAULT_CA_NAME
) -> DemoPki:
    """Creates (or reuses) the demo CA, a credential per `(name, id_nat)` and a fresh-enough CRL."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ca_pem, ca_key_path = directory / "ca.pem", directory / "ca.key"
    if ca_pem.exists() and ca_key_path.exists():
        ca_cert = x509.load_pem_x509_certificate(ca_pem.read_bytes())
        loaded = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{ca_key_path}: expected an EC key")
        ca_key = loaded
    else:
        ca_cert, ca_key = _new_ca(ca_name)
        ca_key_path.write_bytes(ca_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ))
        ca_key_path.chmod(0o600)
        ca_pem.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        (directory / "crl.pem").unlink(missing_ok=True)
    pki = DemoPki(directory=directory, ca_cert=ca_cert, ca_key=ca_key)

    for name, id_nat in physicians:
        cred = _load_credential(directory, id_nat, ca_cert)
        pki.credentials[id_nat] = cred if cred is not None else pki.issue(name, id_nat)

    if not pki.crl_path.exists() or _crl_outdated(pki.crl_path):
        pki.write_crl()
    return pki


def _load_credential(directory: Path, id_nat: str, ca_cert: x509.Certificate) -> Credential | None:
    p12, meta, pem = directory / f"{id_nat}.p12", directory / f"{id_nat}.json", directory / f"{id_nat}.pem"
    if not (p12.exists() and meta.exists() and pem.exists()):
        return None
    data = json.loads(meta.read_text(encoding="utf-8"))
    cert = x509.load_pem_x509_certificate(pem.read_bytes())
    if cert.not_valid_after_utc <= _now():
        return None  # expired demo credential: issue a new one
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return None  # left over from another CA
    return Credential(name=data["name"], id_nat=id_nat, p12_path=p12, passphrase=data["passphrase"],
                      serial_number=cert.serial_number, cert_path=pem)


def _crl_outdated(path: Path) -> bool:
    crl = x509.load_pem_x509_crl(path.read_bytes())
    nxt = crl.next_update_utc
    return nxt is None or nxt - timedelta(days=1) <= _now()
