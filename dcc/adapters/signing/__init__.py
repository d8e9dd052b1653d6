"""Electronic signature of the PDF documents: demo PKI and PAdES signing/verification (pyHanko)."""

from dcc.adapters.signing.pades import (
    PdfSigner,
    Pkcs12Signer,
    VerificationResult,
    check_signing_certificate,
    verify_pdf,
)
from dcc.adapters.signing.pki import Credential, DemoPki, init_demo_pki

__all__ = [
    "Credential",
    "DemoPki",
    "PdfSigner",
    "Pkcs12Signer",
    "VerificationResult",
    "check_signing_certificate",
    "init_demo_pki",
    "verify_pdf",
]
