"""The sending identity of each region towards the DMP (composition root, with dcc.bootstrap which re-exports it):
the structure's seal (certificat de cachet serveur) that signs the VIHF and the submission set, from a PKCS#12
file or a PKCS#11 token, per region or by default; the TLS client certificate of the connection, per region or
by default; and the production check that refuses the demo identities at start-up (French messages).

Which seal a region signs with, first match wins: its own PKCS#11 key (DCC_DMP_SEAL_PKCS11_BY_REGION), its own
PKCS#12 (DCC_DMP_SEAL_P12_BY_REGION; a region may not have both), the default PKCS#11 key
(DCC_DMP_SEAL_PKCS11_LIB…), the default PKCS#12 (DCC_DMP_SEAL_P12), else, outside production, the demo seal
issued by the demo CA under <pki_dir>/regions/<code>."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dcc.config import Pkcs11Seal, Settings
from dcc.errors import ConfigurationError

if TYPE_CHECKING:
    import httpx

    from dcc.adapters.national_record.vihf import SenderIdentity

DEMO_HOMOLOGATION_ID = "DCC-DEMO"


def _both_seals(region_code: str) -> ConfigurationError:
    return ConfigurationError(f"Région {region_code} : deux cachets serveur configurés (DCC_DMP_SEAL_PKCS11_BY_REGION "
                              "et DCC_DMP_SEAL_P12_BY_REGION) ; un seul est permis.")


def sender_identity(settings: Settings, region_code: str, structure_name: str,
                    structure_id_nat: str) -> SenderIdentity:
    """The region's sending identity from its seal (see the module's docstring for which one) and the
    software's homologation number, name and version (DCC_LPS_*); without a seal, the demo key under
    <pki_dir>/regions/<code> (refused in production)."""
    import dataclasses

    from dcc.adapters.national_record.vihf import SenderIdentity, make_demo_identity

    own_p12 = region_code in settings.dmp_seal_p12_by_region
    if own_p12 and region_code in settings.dmp_seal_pkcs11_by_region:
        raise _both_seals(region_code)
    seal = None if own_p12 and region_code not in settings.dmp_seal_pkcs11_by_region \
        else settings.seal_pkcs11_for(region_code)
    if seal is not None:
        return seal_pkcs11_identity(settings, structure_name, structure_id_nat, seal=seal)
    p12, password = settings.seal_p12_for(region_code)
    if p12 is None:
        if settings.env == "production":
            raise ConfigurationError(f"Région {region_code} : certificat de cachet serveur manquant "
                                     "(DCC_DMP_SEAL_P12, DCC_DMP_SEAL_P12_BY_REGION ou DCC_DMP_SEAL_PKCS11_*), "
                                     "obligatoire en production.")
        # issued by the demo CA (the physicians' one): a receiver trusts <pki_dir>/ca.pem, not this certificate
        demo = make_demo_identity(settings.resolved_pki_dir / "regions" / region_code, structure_name,
                                  structure_id_nat, ca_dir=settings.resolved_pki_dir)
        return dataclasses.replace(demo, lps_name=settings.lps_name, lps_version=settings.lps_version,
                                   lps_homologation_id=settings.lps_homologation_id)
    return SenderIdentity(id_nat=structure_id_nat, name=structure_name, p12_path=p12, p12_password=password,
                          lps_name=settings.lps_name, lps_version=settings.lps_version,
                          lps_homologation_id=settings.lps_homologation_id)


def seal_pkcs11_identity(settings: Settings, structure_name: str, structure_id_nat: str, *,
                         seal: Pkcs11Seal | None = None) -> SenderIdentity:
    """The sending identity whose seal key is on a PKCS#11 token: `seal` (a region's, Settings.seal_pkcs11_for),
    else the default DCC_DMP_SEAL_PKCS11_*."""
    from dcc.adapters.national_record.seal import Pkcs11SenderIdentity

    seal = seal or settings.seal_pkcs11_for("")
    prefix = f"Région {seal.region_code} : " if seal is not None and seal.region_code else ""
    if seal is None or not seal.lib:
        raise ConfigurationError(f"{prefix}cachet serveur sur support PKCS#11 sans module (« lib » de "
                                 "DCC_DMP_SEAL_PKCS11_BY_REGION ou DCC_DMP_SEAL_PKCS11_LIB).")
    if not seal.token_label or not (seal.key_label or seal.key_id):
        what = ("« token_label » (ou DCC_DMP_SEAL_PKCS11_TOKEN_LABEL) et « key_label » ou « key_id » sont "
                "obligatoires" if seal.region_code else "DCC_DMP_SEAL_PKCS11_TOKEN_LABEL et "
                "DCC_DMP_SEAL_PKCS11_KEY_LABEL (ou _KEY_ID) sont obligatoires avec DCC_DMP_SEAL_PKCS11_LIB")
        raise ConfigurationError(f"{prefix}cachet serveur sur support PKCS#11 : {what}.")
    try:
        key_id = bytes.fromhex(seal.key_id.lower().removeprefix("0x"))
    except ValueError as exc:
        raise ConfigurationError(f"{prefix}identifiant de clé PKCS#11 « {seal.key_id} » non hexadécimal "
                                 f"({seal.where}).") from exc
    return Pkcs11SenderIdentity(
        id_nat=structure_id_nat, name=structure_name, lps_name=settings.lps_name, lps_version=settings.lps_version,
        lps_homologation_id=settings.lps_homologation_id, pkcs11_lib=seal.lib, pkcs11_token_label=seal.token_label,
        pkcs11_key_label=seal.key_label, pkcs11_key_id=key_id, pkcs11_cert_label=seal.cert_label,
        pkcs11_pin=seal.pin or None)


def dmp_http_client(settings: Settings, region_code: str | None = None) -> httpx.Client:
    """The HTTP client to the national record for a region: mutual TLS with the region's client certificate
    (DCC_DMP_TLS_BY_REGION, else DCC_DMP_TLS_CERT / DCC_DMP_TLS_KEY), the server checked against
    DCC_DMP_TRUST_STORE when configured (else the system's trust anchors)."""
    import ssl

    import httpx

    cert, key = settings.tls_client_for(region_code)
    timeout = httpx.Timeout(settings.dmp_timeout_s, connect=5.0)
    if settings.dmp_trust_store is None and cert is None:
        return httpx.Client(timeout=timeout)
    try:
        context = ssl.create_default_context(
            cafile=str(settings.dmp_trust_store) if settings.dmp_trust_store else None)
        if cert is not None:
            context.load_cert_chain(str(cert), str(key) if key else None)
    except (OSError, ssl.SSLError) as exc:
        where = (f"DCC_DMP_TLS_BY_REGION[{region_code}]" if region_code in settings.dmp_tls_by_region
                 else "DCC_DMP_TLS_CERT, DCC_DMP_TLS_KEY")
        raise ConfigurationError(f"Certificats TLS du DMP illisibles ({where}, DCC_DMP_TRUST_STORE) : "
                                 f"{exc}.") from exc
    return httpx.Client(timeout=timeout, verify=context)


def check_production_identity(settings: Settings) -> None:
    """With DCC_ENV=production, refuses (ConfigurationError, in French) what only the demo may use: no seal
    certificate, a self-signed (demo) seal, no trust store, the demo homologation number."""
    if settings.env != "production":
        return
    from cryptography import x509

    from dcc.adapters.national_record.vihf import SenderIdentity

    problems: list[str] = []
    if not settings.lps_homologation_id.strip() or settings.lps_homologation_id == DEMO_HOMOLOGATION_ID:
        problems.append("numéro d'homologation DMP de démonstration ou absent (DCC_LPS_HOMOLOGATION_ID)")
    if settings.dmp_trust_store is None or not Path(settings.dmp_trust_store).is_file():
        problems.append("magasin de confiance absent (DCC_DMP_TRUST_STORE)")
    # (where, PKCS#12 path, identity, the region whose own seal it is: named in its problems)
    seals: list[tuple[str, Path | None, SenderIdentity, str]] = (
        [(str(settings.dmp_seal_p12), settings.dmp_seal_p12,
          SenderIdentity(id_nat="", name="", p12_path=settings.dmp_seal_p12,
                         p12_password=settings.dmp_seal_p12_password), "")] if settings.dmp_seal_p12 else [])
    for code in settings.dmp_seal_p12_by_region:
        if code in settings.dmp_seal_pkcs11_by_region:
            problems.append(_both_seals(code).message.rstrip("."))
            continue
        p12, password = settings.seal_p12_for(code)
        seals.append((str(p12), p12, SenderIdentity(id_nat="", name="", p12_path=p12, p12_password=password), code))
    pkcs11_seals = [settings.seal_pkcs11_for(code) for code in ("", *settings.dmp_seal_pkcs11_by_region)]
    for seal in pkcs11_seals:
        if seal is None:
            continue
        try:
            seals.append((f"PKCS#11 {seal.where} {seal.token_label}/{seal.key_label or seal.key_id}", None,
                          seal_pkcs11_identity(settings, "", "", seal=seal), seal.region_code))
        except ConfigurationError as exc:
            problems.append(exc.message.rstrip("."))
    if not seals and not any(pkcs11_seals):
        problems.append("certificat de cachet serveur absent (DCC_DMP_SEAL_P12 ou DCC_DMP_SEAL_PKCS11_LIB)")
    for where, p12, identity, region in seals:
        try:
            pem = identity.cert_pem()
        except ConfigurationError as exc:
            problems.append((f"Région {region} : " if region else "") + exc.message.rstrip("."))
            continue
        cert = x509.load_pem_x509_certificate(pem)
        if cert.issuer == cert.subject or (
                p12 is not None and Path(p12).resolve().is_relative_to(settings.resolved_pki_dir.resolve())):
            problems.append(f"clé VIHF de démonstration refusée ({where})")
    if problems:
        raise ConfigurationError("Configuration refusée en production (DCC_ENV=production) : "
                                 + " ; ".join(problems) + ".")
