"""The simulator's trust store: the certification authorities whose certificates may sign a VIHF or a
submission set (the real DMP trusts the IGC Santé; the demo, the demo CA).

A signature is checked against the signer certificate it carries only after that certificate is found to be
issued by one of these authorities and valid now: a request signed by any other key (self-signed, another CA)
or by an expired certificate is refused, whatever its signature says.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature


class UntrustedSigner(Exception):
    """The signer certificate is not issued by a trusted authority, or not valid now (`expired`)."""

    def __init__(self, reason: str, *, expired: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.expired = expired


class TrustStore:
    """CA certificates read from PEM files (one file may hold several) or from the *.pem files under a
    directory (recursively). Only certificates with BasicConstraints CA=true are anchors: a leaf certificate
    lying in the same files is never trusted by itself. Re-read when the files change, so that a CA created
    after the simulator started (the demo's, on first use) is seen."""

    def __init__(self, paths: list[Path]) -> None:
        self._paths = [Path(p) for p in paths]
        self._key: tuple[tuple[str, int], ...] | None = None
        self._anchors: list[x509.Certificate] = []

    @classmethod
    def from_setting(cls, value: Path | str | list[Path] | None) -> TrustStore:
        """A trust store from a path (or `os.pathsep`-separated paths), a list of paths or None (empty)."""
        if value is None:
            return cls([])
        if isinstance(value, list):
            return cls(value)
        return cls([Path(p) for p in str(value).split(os.pathsep) if p])

    @property
    def configured(self) -> bool:
        return bool(self._paths)

    def _files(self) -> list[Path]:
        files: list[Path] = []
        for path in self._paths:
            files += sorted(path.rglob("*.pem")) if path.is_dir() else [path]
        return files

    def anchors(self) -> list[x509.Certificate]:
        files = self._files()
        key = tuple((str(f), f.stat().st_mtime_ns if f.is_file() else -1) for f in files)
        if key != self._key:
            anchors: list[x509.Certificate] = []
            for f in files:
                if f.is_file():
                    try:
                        certs = x509.load_pem_x509_certificates(f.read_bytes())
                    except ValueError:
                        continue  # not a certificate file (a key, a CRL)
                    anchors += [c for c in certs if _is_ca(c)]
            self._anchors, self._key = anchors, key
        return self._anchors

    def check(self, cert: x509.Certificate, *, at: dt.datetime | None = None) -> None:
        """Raises UntrustedSigner unless `cert` is directly issued by a trusted CA and valid at `at` (now)."""
        now = at or dt.datetime.now(dt.UTC)
        if not self.configured:
            raise UntrustedSigner("aucun magasin de confiance configuré sur le simulateur")
        issuer_found = False
        for anchor in self.anchors():
            if anchor.subject != cert.issuer:
                continue
            issuer_found = True
            try:
                cert.verify_directly_issued_by(anchor)
            except (ValueError, TypeError, InvalidSignature):
                continue
            if not anchor.not_valid_before_utc <= now < anchor.not_valid_after_utc:
                raise UntrustedSigner(f"autorité {anchor.subject.rfc4514_string()} hors de sa période de validité",
                                      expired=True)
            if now < cert.not_valid_before_utc:
                raise UntrustedSigner(
                    f"certificat du signataire pas encore valide ({cert.not_valid_before_utc:%Y-%m-%d})", expired=True)
            if now >= cert.not_valid_after_utc:
                raise UntrustedSigner(f"certificat du signataire expiré le {cert.not_valid_after_utc:%Y-%m-%d}",
                                      expired=True)
            return
        subject = cert.subject.rfc4514_string()
        if issuer_found:
            raise UntrustedSigner(f"certificat {subject} : signature de l'autorité invalide")
        raise UntrustedSigner(f"certificat {subject} émis par une autorité non reconnue "
                              f"({cert.issuer.rfc4514_string()})")


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def certificate_from_base64(text: str) -> x509.Certificate:
    """The certificate of a ds:X509Certificate element (base64 DER)."""
    import base64

    return x509.load_der_x509_certificate(base64.b64decode("".join(text.split())))
