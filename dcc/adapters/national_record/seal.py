"""The structure's seal (certificat de cachet serveur) on a PKCS#11 token (HSM), for the VIHF and the
submission-set signature: the same PKCS#11 adapter as physician signing (dcc.adapters.signing.pkcs11); the key
never leaves the token, the certificate is read from it. Configured by environment (DCC_DMP_SEAL_PKCS11_*, or a
region's own DCC_DMP_SEAL_PKCS11_BY_REGION entry: see dcc.dmp_identity)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from dcc.adapters.national_record.vihf import SenderIdentity
from dcc.errors import ConfigurationError, SignatureRefused


@lru_cache(maxsize=16)
def _token_certificate(lib_path: str, token_label: str, pin: str | None, label: str,
                       cka_id: bytes) -> x509.Certificate:
    from dcc.adapters.signing.pkcs11 import token_certificate

    try:
        return token_certificate(lib_path, token_label, pin, label, cka_id=cka_id)
    except SignatureRefused as exc:
        reason = exc.message.removeprefix("Signature refusée : ")
        raise ConfigurationError(f"Cachet serveur sur support PKCS#11 : {reason}") from exc


@dataclass(frozen=True)
class Pkcs11SenderIdentity(SenderIdentity):
    """A SenderIdentity whose seal key and certificate are on a PKCS#11 token."""

    pkcs11_lib: str = ""
    pkcs11_token_label: str = ""
    pkcs11_key_label: str = ""
    pkcs11_key_id: bytes = b""  # CKA_ID of the key and its certificate (with or instead of the label)
    pkcs11_cert_label: str = ""  # empty: the key's label, else the certificate with the key's id
    pkcs11_pin: str | None = field(default=None, repr=False)  # None: the token's PIN pad

    def certificate(self) -> x509.Certificate:
        label = self.pkcs11_cert_label or self.pkcs11_key_label
        return _token_certificate(self.pkcs11_lib, self.pkcs11_token_label, self.pkcs11_pin, label,
                                  b"" if self.pkcs11_cert_label else self.pkcs11_key_id)

    def cert_pem(self) -> bytes:
        return self.certificate().public_bytes(serialization.Encoding.PEM)

    def private_key(self) -> RSAPrivateKey | EllipticCurvePrivateKey:
        from dcc.adapters.signing.pkcs11 import Pkcs11RsaKey

        try:
            return Pkcs11RsaKey(self.pkcs11_lib, self.pkcs11_token_label, self.pkcs11_pin,
                                key_label=self.pkcs11_key_label, key_id=self.pkcs11_key_id,
                                certificate=self.certificate())
        except SignatureRefused as exc:
            raise ConfigurationError(exc.message.replace("Signature refusée : ", "Cachet serveur : ")) from exc

    def key_pem(self) -> bytes:
        raise ConfigurationError("La clé du cachet serveur est sur un support PKCS#11 : elle n'est pas exportable.")
