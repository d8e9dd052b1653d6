"""PAdES signing with a key held on a PKCS#11 token: a professional smart card (CPS) or an HSM.

Uses pyHanko's PKCS#11 support (python-pkcs11 underneath). The token is found by its label, the key and
certificate by their labels (or ids). The same refusals as the PKCS#12 signer apply before anything is
signed (expired, not-yet-valid or revoked certificate, certificate of another physician, certificate not
issued by the expected CA), and the same visible signature block is drawn.

A session is opened for each `sign` call (or kept open for a batch inside `with signer:`) and closed
afterwards, so a card can be removed between two batches. The PIN comes from the configuration (HSM,
SoftHSM in tests); with `pin=None` the token's protected authentication path (PIN pad) is used.

Tested with SoftHSM 2 (Debian `softhsm2`); real CPS cards go through their vendor's PKCS#11 module
(e.g. the ANS "Cryptolib CPS"), which has not been tried here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import AsymmetricPadding, PKCS1v15
from pyhanko.keys import load_cert_from_pemder
from pyhanko.sign import timestamps

from dcc.adapters.signing.pades import (
    LocalSigner,
    _load_cert,
    _load_crl,
    cert_id_nat,
    check_signing_certificate,
)
from dcc.errors import SignatureRefused

log = logging.getLogger(__name__)


def _pkcs11_modules() -> tuple[Any, Any, Any]:
    """(pyhanko.sign.pkcs11, pyhanko.config.pkcs11, pkcs11) imported lazily: python-pkcs11 is a C extension
    only the PKCS#11 configuration needs."""
    try:
        import pkcs11
        from pyhanko.config import pkcs11 as p11_config
        from pyhanko.sign import pkcs11 as p11_sign
    except ImportError as exc:  # pragma: no cover - python-pkcs11 is a dependency
        raise SignatureRefused(
            "Signature refusée : la prise en charge des cartes et HSM (PKCS#11) n'est pas installée "
            "(paquet python-pkcs11)."
        ) from exc
    return p11_sign, p11_config, pkcs11


def _absent(token_label: str) -> SignatureRefused:
    return SignatureRefused(
        f"Signature refusée : le support de signature « {token_label} » est absent "
        "(carte non insérée ou HSM injoignable)."
    )


def open_session(lib_path: str, token_label: str, pin: str | None) -> Any:
    """A logged-in PKCS#11 session on the token labelled `token_label` (pin None: PIN pad)."""
    p11_sign, p11_config, pkcs11 = _pkcs11_modules()
    user_pin: object = pin if pin is not None else p11_sign.PROTECTED_AUTH
    try:
        return p11_sign.open_pkcs11_session(
            lib_path, token_criteria=p11_config.TokenCriteria(label=token_label), user_pin=user_pin
        )
    except pkcs11.exceptions.PinIncorrect as exc:
        raise SignatureRefused("Signature refusée : code PIN incorrect pour la carte ou le HSM.") from exc
    except pkcs11.exceptions.PinLocked as exc:
        raise SignatureRefused("Signature refusée : la carte est bloquée (code PIN verrouillé).") from exc
    except (pkcs11.exceptions.NoSuchToken, pkcs11.exceptions.TokenNotPresent) as exc:
        raise _absent(token_label) from exc
    except pkcs11.exceptions.PKCS11Error as exc:
        if str(exc).startswith("No token"):  # pyHanko: no slot holds a token with that label
            raise _absent(token_label) from exc
        raise SignatureRefused(
            f"Signature refusée : impossible d'ouvrir le support de signature « {token_label} » "
            f"({type(exc).__name__})."
        ) from exc
    except (OSError, RuntimeError) as exc:
        raise SignatureRefused(
            f"Signature refusée : impossible de charger le module PKCS#11 {lib_path} ({type(exc).__name__})."
        ) from exc


@dataclass(frozen=True)
class TokenCertificate:
    label: str
    id: bytes
    certificate: x509.Certificate

    @property
    def id_nat(self) -> str:
        return cert_id_nat(self.certificate)


def token_certificates(lib_path: str | Path, token_label: str, pin: str | None) -> list[TokenCertificate]:
    """The X.509 certificates on a token (a card holds one physician's, an HSM possibly many)."""
    _, _, pkcs11 = _pkcs11_modules()
    session = open_session(str(lib_path), token_label, pin)
    try:
        out = []
        for obj in session.get_objects({pkcs11.Attribute.CLASS: pkcs11.ObjectClass.CERTIFICATE}):
            try:
                cert = x509.load_der_x509_certificate(bytes(obj[pkcs11.Attribute.VALUE]))
            except ValueError:
                continue
            label = str(obj[pkcs11.Attribute.LABEL] or "")
            try:
                cka_id = bytes(obj[pkcs11.Attribute.ID] or b"")
            except pkcs11.exceptions.PKCS11Error:
                cka_id = b""
            out.append(TokenCertificate(label=label, id=cka_id, certificate=cert))
        return out
    finally:
        session.close()


class Pkcs11Signer(LocalSigner):
    """Signs with a private key that never leaves a PKCS#11 token (smart card, HSM)."""

    def __init__(
        self,
        lib_path: str | Path,
        token_label: str,
        pin: str | None,
        *,
        key_label: str | None = None,
        cert_label: str | None = None,
        key_id: bytes | None = None,
        cert_id: bytes | None = None,
        id_nat: str | None = None,
        trust_ca: Path | None = None,
        crl: Path | None = None,
        tsa_url: str | None = None,
        timestamper: timestamps.TimeStamper | None = None,
        font_path: Path | None = None,
        raw_mechanism: bool | None = None,
    ) -> None:
        if not (key_label or cert_label or key_id or cert_id):
            raise ValueError("key_label, cert_label, key_id or cert_id is required")
        self.lib_path = str(lib_path)
        self.token_label = token_label
        self._pin = pin
        self._key_label, self._cert_label = key_label, cert_label
        self._key_id, self._cert_id = key_id, cert_id
        self._trust_ca_path = trust_ca
        self._configure(id_nat=id_nat, trust_ca=trust_ca, crl=crl, tsa_url=tsa_url, timestamper=timestamper,
                        font_path=font_path)
        self._session: Any | None = None
        # ECDSA: hash in pyHanko and sign with the raw CKM_ECDSA mechanism, which every token offers
        # (SoftHSM 2.6 and many cards lack CKM_ECDSA_SHA256). None: raw for EC keys only.
        self._raw_mechanism = raw_mechanism
        self._loaded: x509.Certificate | None = None
        # Read the certificate once (checks before each signature need it; no key operation here).
        with self:
            signer = self._pyhanko_signer()
            cert = signer.signing_cert
            if cert is None:
                raise SignatureRefused(
                    f"Signature refusée : aucun certificat de signature sur le support « {token_label} »."
                )
            self._loaded = x509.load_der_x509_certificate(cert.dump())
        self.certificate: x509.Certificate = self._loaded

    @classmethod
    def for_physician(cls, lib_path: str | Path, token_label: str, pin: str | None, *, id_nat: str,
                      name: str = "", **kw: Any) -> Pkcs11Signer:
        """The signer of the key whose certificate carries `id_nat` (found by its CKA_ID, else its label).

        Several (a renewed certificate): the latest-expiring one that passes the refusal checks now (dates,
        CA, CRL), else the latest-expiring one (whose signing is then refused with the reason).
        """
        now = datetime.now(UTC)
        found = [c for c in token_certificates(lib_path, token_label, pin) if c.id_nat == id_nat]
        if not found:
            who = f"{name} " if name else ""
            raise SignatureRefused(
                f"Signature refusée : aucun certificat de {who}(identifiant {id_nat}) sur le support "
                f"de signature « {token_label} »."
            )
        trust_ca, crl_path = kw.get("trust_ca"), kw.get("crl")
        crl = _load_crl(crl_path) if crl_path else None
        ca = _load_cert(trust_ca) if trust_ca else None

        def usable(c: TokenCertificate) -> bool:
            try:
                check_signing_certificate(c.certificate, at=now, expected_id_nat=id_nat, trust_ca=ca, crl=crl)
            except SignatureRefused:
                return False
            return True

        found.sort(key=lambda c: (usable(c), c.certificate.not_valid_after_utc))
        best = found[-1]
        ids: dict[str, Any] = {"key_id": best.id, "cert_id": best.id} if best.id else {
            "key_label": best.label, "cert_label": best.label}
        return cls(lib_path, token_label, pin, id_nat=id_nat, **ids, **kw)

    # -- session handling

    def _open(self) -> Any:
        return open_session(self.lib_path, self.token_label, self._pin)

    def __enter__(self) -> Pkcs11Signer:
        if self._session is None:
            self._session = self._open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._session is not None:
            try:
                self._session.close()
            except Exception:  # a removed card: nothing more to release
                log.debug("PKCS#11 session close failed", exc_info=True)
            self._session = None

    def _pyhanko_signer(self) -> Any:
        p11_sign, _, pkcs11 = _pkcs11_modules()
        ca_chain = [load_cert_from_pemder(str(self._trust_ca_path))] if self._trust_ca_path else None
        signer = p11_sign.PKCS11Signer(
            self._session,
            cert_label=self._cert_label,
            key_label=self._key_label,
            cert_id=self._cert_id,
            key_id=self._key_id,
            ca_chain=ca_chain,
            use_raw_mechanism=self._use_raw(),
        )
        try:
            signer.signing_cert  # noqa: B018 - loads key and certificate handles, fails early if absent
        except pkcs11.exceptions.PKCS11Error as exc:  # NoSuchKey, MultipleObjectsReturned, "Could not find…"
            raise SignatureRefused(
                f"Signature refusée : clé ou certificat introuvable (ou ambigu) sur le support "
                f"« {self.token_label} »."
            ) from exc
        return signer

    def _use_raw(self) -> bool:
        if self._raw_mechanism is not None:
            return self._raw_mechanism
        return self._loaded is not None and isinstance(self._loaded.public_key(), ec.EllipticCurvePublicKey)

    # -- signing

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
        batch = self._session is not None
        if not batch:
            self.__enter__()
        try:
            signer = self._pyhanko_signer()
            try:
                return self._sign_pades(pdf, signer, signer_name=signer_name, reason=reason, location=location,
                                        at=now)
            except SignatureRefused:
                raise
            except Exception as exc:
                _, _, pkcs11 = _pkcs11_modules()
                if isinstance(exc, pkcs11.exceptions.PKCS11Error) or isinstance(
                        exc.__cause__, pkcs11.exceptions.PKCS11Error):
                    raise SignatureRefused(
                        f"Signature refusée : le support « {self.token_label} » a refusé l'opération "
                        f"de signature ({type(exc.__cause__ or exc).__name__})."
                    ) from exc
                raise
        finally:
            if not batch:
                self.close()


# -------------------------------------------------------------------------- seal key on a token (VIHF, XAdES)

_RSA_MECHANISMS = {"sha256": "SHA256_RSA_PKCS", "sha384": "SHA384_RSA_PKCS", "sha512": "SHA512_RSA_PKCS"}


def token_certificate(lib_path: str, token_label: str, pin: str | None, label: str = "", *,
                      cka_id: bytes = b"") -> x509.Certificate:
    """The certificate labelled `label` and/or with the CKA_ID `cka_id` on the token (the structure's seal
    certificate); exactly one must match."""
    found = [c for c in token_certificates(lib_path, token_label, pin)
             if (not label or c.label == label) and (not cka_id or c.id == cka_id)]
    named = " ".join(filter(None, [f"« {label} »" if label else "", f"d'identifiant {cka_id.hex()}" if cka_id else ""]))
    if len(found) > 1:
        raise SignatureRefused(f"Certificat {named} ambigu sur le support « {token_label} » ({len(found)} trouvés).")
    if not found:
        raise SignatureRefused(f"Certificat {named} introuvable sur le support « {token_label} ».")
    return found[0].certificate


class Pkcs11RsaKey(rsa.RSAPrivateKey):
    """The structure's seal key (certificat de cachet serveur) on a PKCS#11 token (HSM): an RSA private key
    object for signxml (VIHF, XAdES) whose `sign` runs on the token (CKM_SHA*_RSA_PKCS, PKCS#1 v1.5); the key
    never leaves it. A session is opened for each signature (python-pkcs11 sessions are not shared between
    threads). A token that cannot sign makes the send fail as transient (DeliveryError), with the reason."""

    def __init__(self, lib_path: str, token_label: str, pin: str | None, *, key_label: str = "",
                 key_id: bytes = b"", certificate: x509.Certificate) -> None:
        public = certificate.public_key()
        if not isinstance(public, rsa.RSAPublicKey):
            raise SignatureRefused(f"Le certificat « {key_label} » du support « {token_label} » doit porter une "
                                   "clé RSA (signature RSA-SHA256 du VIHF).")
        self.lib_path, self.token_label, self._pin, self.key_label = lib_path, token_label, pin, key_label
        self.key_id = key_id
        self._public = public

    def sign(self, data: bytes, padding: AsymmetricPadding, algorithm: Any) -> bytes:
        from dcc.errors import DeliveryError

        if not isinstance(padding, PKCS1v15) or getattr(algorithm, "name", "") not in _RSA_MECHANISMS:
            raise ValueError("Seal key on a token: PKCS#1 v1.5 with SHA-256, SHA-384 or SHA-512 only")
        _, _, pkcs11 = _pkcs11_modules()
        mechanism = getattr(pkcs11.Mechanism, _RSA_MECHANISMS[algorithm.name])
        try:
            session = open_session(self.lib_path, self.token_label, self._pin)
        except SignatureRefused as exc:
            raise DeliveryError(f"Cachet serveur indisponible : {exc.message}", error_code="cachet_indisponible") \
                from exc
        try:
            key = session.get_key(object_class=pkcs11.ObjectClass.PRIVATE_KEY, key_type=pkcs11.KeyType.RSA,
                                  label=self.key_label or None, id=self.key_id or None)
            return bytes(key.sign(data, mechanism=mechanism))
        except pkcs11.exceptions.PKCS11Error as exc:
            raise DeliveryError(f"Cachet serveur : le support « {self.token_label} » n'a pas signé avec la clé "
                                f"« {self.key_label or self.key_id.hex()} » ({type(exc).__name__}).",
                                error_code="cachet_indisponible") from exc
        finally:
            session.close()

    def public_key(self) -> rsa.RSAPublicKey:
        return self._public

    @property
    def key_size(self) -> int:
        return self._public.key_size

    def decrypt(self, ciphertext: bytes, padding: AsymmetricPadding) -> bytes:
        raise TypeError("the seal key on a token only signs")

    def private_numbers(self) -> rsa.RSAPrivateNumbers:
        raise TypeError("a key on a PKCS#11 token is not extractable")

    def private_bytes(self, encoding: Any, format: Any, encryption_algorithm: Any) -> bytes:  # noqa: A002
        raise TypeError("a key on a PKCS#11 token is not extractable")

    def __copy__(self) -> Pkcs11RsaKey:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Pkcs11RsaKey:
        return self
