"""poppler's `pdfsig` as an independent signature verifier for the tests, with its own NSS trust store.

`pdfsig` validates certificates with NSS: `nss_database()` creates a database in which the given CAs are
trusted for signatures (S/MIME trust, the usage poppler checks) and their CRLs are imported, so pdfsig
reports an untrusted issuer, a revoked certificate and an expired certificate on its own, without any help
from pyHanko. Needs Debian's `poppler-utils` (pdfsig) and `libnss3-tools` (certutil, crlutil).

OCSP is left on (poppler's `-no-ocsp` makes NSS report "Unknown issue with Certificate" for every
certificate): the demo certificates carry no OCSP address, so nothing is fetched.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

TOOLS = ("pdfsig", "certutil", "crlutil")


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def available() -> bool:
    return not missing_tools()


SKIP_REASON = "poppler-utils / libnss3-tools absent (pdfsig, certutil, crlutil): `make test-deps` installs them"


@dataclass(frozen=True)
class PdfsigReport:
    output: str

    @property
    def signature_valid(self) -> bool:
        return "Signature Validation: Signature is Valid." in self.output

    @property
    def total_document_signed(self) -> bool:
        return "Total document signed" in self.output and "Not total document signed" not in self.output

    @property
    def certificate(self) -> str:
        """poppler's certificate verdict, e.g. "Certificate is Trusted.", "Certificate has been Revoked."."""
        found = re.findall(r"Certificate Validation: (.*)", self.output)
        return found[-1].strip() if found else ""

    @property
    def certificate_trusted(self) -> bool:
        return self.certificate.startswith("Certificate is Trusted")

    @property
    def ok(self) -> bool:
        return self.signature_valid and self.total_document_signed and self.certificate_trusted


def _der_crl(path: Path) -> bytes:
    data = path.read_bytes()
    crl = x509.load_pem_x509_crl(data) if b"-----BEGIN" in data else x509.load_der_x509_crl(data)
    return crl.public_bytes(Encoding.DER)


def _run(args: list[str]) -> None:
    res = subprocess.run(args, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {res.stdout}{res.stderr}")


def nss_database(directory: Path, *, trust_roots: Iterable[Path], crls: Iterable[Path] | None = None) -> Path:
    """An NSS database trusting `trust_roots` for signatures, with `crls` imported (by default the
    `crl.pem` next to each root, the demo PKI layout). Returns the `-nssdir` argument."""
    directory.mkdir(parents=True, exist_ok=True)
    db = f"sql:{directory}"
    _run(["certutil", "-N", "-d", db, "--empty-password"])
    roots = list(trust_roots)
    for i, root in enumerate(roots):
        _run(["certutil", "-A", "-d", db, "-n", f"trust-anchor-{i}", "-t", "C,C,C", "-i", str(root)])
    if crls is None:
        crls = [r.parent / "crl.pem" for r in roots if (r.parent / "crl.pem").exists()]
    for j, crl in enumerate(crls):
        der = directory / f"crl-{j}.der"
        der.write_bytes(_der_crl(crl))
        _run(["crlutil", "-I", "-d", db, "-i", str(der)])
    return directory


def pdfsig(pdf: bytes, *, nss_dir: Path, workdir: Path) -> PdfsigReport:
    """Runs `pdfsig` on `pdf` with full certificate validation against the NSS database `nss_dir`."""
    path = workdir / "pdfsig-input.pdf"
    path.write_bytes(pdf)
    res = subprocess.run(["pdfsig", "-nssdir", f"sql:{nss_dir}", str(path)], capture_output=True, text=True,
                         check=False, timeout=60)
    return PdfsigReport(res.stdout + res.stderr)


__all__ = ["PdfsigReport", "SKIP_REASON", "available", "missing_tools", "nss_database", "pdfsig"]
