"""Composition root: builds the real adapters from the settings. Flows, CLI and web call this."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from dcc.adapters.db import guards
from dcc.config import Settings, get_settings
from dcc.dmp_identity import (  # noqa: F401 - re-exported: the national record's identity lives there
    DEMO_HOMOLOGATION_ID,
    check_production_identity,
    dmp_http_client,
    seal_pkcs11_identity,
    sender_identity,
)
from dcc.domain.documents import FrcpContent, PpsContent
from dcc.domain.identifiers import struct_id_nat
from dcc.domain.ports import PdfSigner, SignerDirectory, Submission, SubmitOutcome, Transport
from dcc.services.audit import record_refused_changes
from dcc.services.uow import Database

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx

    from dcc.adapters.national_record.metadata import DocumentEntry
    from dcc.adapters.national_record.vihf import SenderIdentity
    from dcc.adapters.national_record.xds import XdsMetadataUpdater, XdsTransport

# A refused change of a signed document is audited by the audit service (the guard, an adapter, only knows
# the callback): wired once, when the composition root is imported.
guards.set_refusal_recorder(record_refused_changes)


@cache
def database(url: str | None = None) -> Database:
    return Database(url or get_settings().resolved_database_url)


def migrate(url: str) -> int:
    """Apply the migrations, then load the package's baseline referentials where the database has no version
    of them (forms validate coded fields against the versions in the database). Returns how many value sets
    the baseline loaded (0 when every one already has a version)."""
    from datetime import date

    from dcc.adapters.db.engine import upgrade
    from dcc.services.referentials import load_baseline

    upgrade(url)
    db = Database(url)
    try:
        with db.uow() as uow:
            return len(load_baseline(uow, actor="dcc db upgrade", today=date.today()))
    finally:
        db.dispose()


class LxmlCdaBuilder:
    """CdaBuilder port over dcc.adapters.cda.builder."""

    def build_frcp(self, content: FrcpContent) -> bytes:
        from dcc.adapters.cda.builder import build_frcp

        return build_frcp(content)

    def build_pps(self, content: PpsContent) -> bytes:
        from dcc.adapters.cda.builder import build_pps

        return build_pps(content)

    def stamp_legal_authenticator(self, cda: bytes, *, signed_at: datetime) -> bytes:
        from dcc.adapters.cda.builder import stamp_legal_authenticator

        return stamp_legal_authenticator(cda, signed_at=signed_at)

    def mailto_recipients(self, cda: bytes) -> list[str]:
        from dcc.adapters.messaging.transport import recipients_from_cda

        return [address for address, _ in recipients_from_cda(cda)]


class WeasyPdfRenderer:
    """PdfRenderer port over dcc.adapters.rendering.pdf, created once (parsed CSS and fonts reused)."""

    def __init__(self, variant: str) -> None:
        from dcc.adapters.rendering.pdf import TEMPLATE_VERSION, PdfRenderer

        self._renderer = PdfRenderer(variant=variant)
        self.template_version = TEMPLATE_VERSION

    def render_frcp(self, content: FrcpContent) -> bytes:
        return self._renderer.render_frcp(content)

    def render_pps(self, content: PpsContent) -> bytes:
        return self._renderer.render_pps(content)


@cache
def cda_builder() -> LxmlCdaBuilder:
    return LxmlCdaBuilder()


@cache
def pdf_renderer(variant: str | None = None) -> WeasyPdfRenderer:
    return WeasyPdfRenderer(variant or get_settings().pdf_variant)


class DemoSignerDirectory:
    """PKCS#12 file per physician under the demo PKI directory (demo and small sites)."""

    def __init__(self, pki_dir: Path, *, tsa_url: str = "", production: bool = False) -> None:
        from dcc.errors import ConfigurationError

        if production:
            raise ConfigurationError("Les clés de démonstration sont refusées en production (DCC_ENV=production).")
        self.pki_dir = pki_dir
        self.tsa_url = tsa_url

    def signer_for(self, *, id_nat: str, name: str) -> PdfSigner:
        from dcc.adapters.signing.pades import Pkcs12Signer
        from dcc.adapters.signing.pki import init_demo_pki

        pki = init_demo_pki(self.pki_dir, [(name, id_nat)])
        cred = pki.credential(id_nat)
        return Pkcs12Signer(cred.p12_path, cred.passphrase, id_nat=id_nat, trust_ca=pki.ca_path,
                            crl=pki.crl_path, tsa_url=self.tsa_url or None)


def signing_trust_problems(settings: Settings) -> list[str]:
    """What DCC_ENV=production refuses in the physicians' signing configuration (French, one item each): the
    demo PKCS#12 files, and a missing or unreadable trust anchor (DCC_SIGNING_TRUST_CA) or CRL
    (DCC_SIGNING_CRL) for the card / HSM / esignsante certificates. Empty outside production."""
    if settings.env != "production":
        return []
    from dcc.adapters.signing.pades import _load_cert, _load_crl

    problems: list[str] = []
    if settings.signer == "pkcs12":
        problems.append("signature par fichiers PKCS#12 de démonstration (DCC_SIGNER=pkcs12) : choisissez "
                        "pkcs11 ou esignsante")
    for path, variable, what, load in (
            (settings.signing_trust_ca, "DCC_SIGNING_TRUST_CA", "autorité de certification des signataires",
             _load_cert),
            (settings.signing_crl, "DCC_SIGNING_CRL", "liste de révocation des signataires", _load_crl)):
        if path is None or not Path(path).is_file():
            problems.append(f"{what} absente ({variable})")
            continue
        try:
            load(Path(path))
        except ValueError:
            problems.append(f"{what} illisible ({variable} : {path})")
    return problems


def check_production_signing(settings: Settings) -> None:
    """With DCC_ENV=production, refuses at start-up (ConfigurationError, in French) a signing configuration
    whose certificates would not be checked against a trust anchor and its CRL before each signature."""
    from dcc.errors import ConfigurationError

    problems = signing_trust_problems(settings)
    if problems:
        raise ConfigurationError("Configuration de la signature refusée en production (DCC_ENV=production) : "
                                 + " ; ".join(problems) + ".")


def _signing_trust(settings: Settings) -> tuple[Path | None, Path | None]:
    """CA and CRL the token / remote signers' certificates are checked against before each signature:
    DCC_SIGNING_TRUST_CA / DCC_SIGNING_CRL when configured (required in production), else, outside
    production, the demo PKI's when present."""
    if settings.env == "production":
        check_production_signing(settings)
        return settings.signing_trust_ca, settings.signing_crl
    if settings.signing_trust_ca is not None or settings.signing_crl is not None:
        return settings.signing_trust_ca, settings.signing_crl
    pki_dir = settings.resolved_pki_dir
    ca, crl = pki_dir / "ca.pem", pki_dir / "crl.pem"
    return (ca if ca.exists() else None), (crl if crl.exists() else None)


class Pkcs11SignerDirectory:
    """Keys on a PKCS#11 token (a physician's smart card, or an HSM holding several physicians' keys): the
    key is the one whose certificate carries the physician's national id."""

    def __init__(self, lib_path: str, token_label: str, pin: str | None, *, trust_ca: Path | None = None,
                 crl: Path | None = None, tsa_url: str = "") -> None:
        from dcc.errors import ConfigurationError

        if not lib_path or not token_label:
            raise ConfigurationError("Signature par carte ou HSM : DCC_PKCS11_LIB et DCC_PKCS11_TOKEN_LABEL "
                                     "sont obligatoires.")
        self.lib_path, self.token_label, self.pin = lib_path, token_label, pin
        self.trust_ca, self.crl, self.tsa_url = trust_ca, crl, tsa_url

    def signer_for(self, *, id_nat: str, name: str) -> PdfSigner:
        from dcc.adapters.signing.pkcs11 import Pkcs11Signer

        return Pkcs11Signer.for_physician(self.lib_path, self.token_label, self.pin, id_nat=id_nat, name=name,
                                          trust_ca=self.trust_ca, crl=self.crl, tsa_url=self.tsa_url or None)


class EsignsanteSignerDirectory:
    """The ANS esignsante service: one signature configuration (DCC_ESIGNSANTE_CONF_ID), or else the one
    whose certificate DN carries the physician's national id (GET /configurations)."""

    def __init__(self, base_url: str, conf_id: int | None, *, secret: str = "", trust_ca: Path | None = None,
                 crl: Path | None = None, timeout: float = 30.0) -> None:
        import httpx

        from dcc.errors import ConfigurationError

        if not base_url:
            raise ConfigurationError("Signature par esignsante : DCC_ESIGNSANTE_URL est obligatoire.")
        self.base_url, self.conf_id, self.secret = base_url.rstrip("/"), conf_id, secret or None
        self.trust_ca, self.crl = trust_ca, crl
        self._client = httpx.Client(timeout=httpx.Timeout(timeout, connect=5.0))

    def signer_for(self, *, id_nat: str, name: str) -> PdfSigner:
        from dcc.adapters.signing.esignsante import EsignsanteSigner, conf_for_physician, list_configurations
        from dcc.errors import SignatureRefused

        def make(conf_id: int) -> EsignsanteSigner:
            return EsignsanteSigner(self.base_url, conf_id, client=self._client, secret=self.secret,
                                    id_nat=id_nat, trust_ca=self.trust_ca, crl=self.crl)

        if self.conf_id is not None:
            return make(self.conf_id)
        conf_id = conf_for_physician(list_configurations(self.base_url, client=self._client), id_nat)
        if conf_id is None:
            raise SignatureRefused(f"Signature refusée : aucune configuration esignsante (ou plusieurs) pour "
                                   f"{name} (identifiant {id_nat}).")
        return make(conf_id)

    def close(self) -> None:
        self._client.close()


def signer_directory(settings: Settings | None = None) -> SignerDirectory:
    """DCC_SIGNER chooses: `pkcs12` (default: demo PKI files), `pkcs11` (card / HSM), `esignsante`."""
    settings = settings or get_settings()
    if settings.signer == "pkcs11":
        ca, crl = _signing_trust(settings)
        return Pkcs11SignerDirectory(settings.pkcs11_lib, settings.pkcs11_token_label, settings.pkcs11_pin or None,
                                     trust_ca=ca, crl=crl, tsa_url=settings.tsa_url)
    if settings.signer == "esignsante":
        ca, crl = _signing_trust(settings)
        return EsignsanteSignerDirectory(settings.esignsante_url, settings.esignsante_conf_id,
                                         secret=settings.esignsante_secret, trust_ca=ca, crl=crl)
    return DemoSignerDirectory(settings.resolved_pki_dir, tsa_url=settings.tsa_url,
                               production=settings.env == "production")


XDS_PATH = "/xds/iti41"
ITI57_PATH = "/xds/iti57"
ITI18_PATH = "/xds/iti18"


def _url_path(endpoint: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(endpoint).path.rstrip("/")


def xds_endpoint(endpoint: str) -> str:
    """ITI-41 URL of a region endpoint: Region.endpoint holds the national record's base URL (the
    simulator's root) and each transport appends its path; a full URL (with a path) is used as is."""
    return endpoint.rstrip("/") + XDS_PATH if not _url_path(endpoint) else endpoint


def xds_sibling_endpoint(iti41_endpoint: str, path: str) -> str:
    """ITI-57 / ITI-18 URL next to an ITI-41 URL: `<base>/xds/iti41` gives `<base><path>`; any other ITI-41
    URL gets `<path>`'s last segment in place of its own (`…/repository` → `…/iti57`)."""
    endpoint = iti41_endpoint.rstrip("/")
    if endpoint.endswith(XDS_PATH):
        return endpoint[: -len(XDS_PATH)] + path
    return endpoint.rsplit("/", 1)[0] + "/" + path.rsplit("/", 1)[-1]


def mhd_base_url(endpoint: str) -> str:
    """Base URL for MhdTransport (which posts to `{base}/fhir`) from a region endpoint: the root as is;
    a trailing `/fhir` or the ITI-41 path (`/xds/iti41`, older configurations) is dropped."""
    endpoint = endpoint.rstrip("/")
    for suffix in ("/fhir", XDS_PATH):
        if _url_path(endpoint).endswith(suffix):
            return endpoint[: -len(suffix)]
    return endpoint


def checked_entry(submission: Submission) -> DocumentEntry:
    """The document entry (metadata) derived from the CDA, its codes checked against the value sets: a
    permanent DeliveryError before anything is sent when they are not acceptable."""
    from dcc.adapters.national_record.metadata import check_codes, entry_from_cda
    from dcc.errors import DeliveryError, ValidationFailed

    try:
        entry = entry_from_cda(submission.cda, extra_confidentiality=submission.extra_confidentiality)
        check_codes(entry)
    except ValidationFailed as exc:
        raise DeliveryError(f"Métadonnées refusées avant envoi : {exc.message}", permanent=True,
                            error_code="metadonnees_invalides") from exc
    return entry


class XdsNationalRecord:
    """Transport port over the ITI-41 adapter: metadata derived from the CDA, codes checked before sending."""

    def __init__(self, endpoint: str, *, identity_dir: Path, structure_name: str, structure_id_nat: str,
                 timeout: float = 10.0, cda_lookup: Callable[[str], bytes | None] | None = None,
                 identity: SenderIdentity | None = None, client: httpx.Client | None = None) -> None:
        import httpx

        from dcc.adapters.national_record.xds import make_demo_identity

        # the region's seal certificate when configured (sender_identity), else the demo key
        self._identity = identity or make_demo_identity(identity_dir, structure_name, structure_id_nat)
        self._client = client or httpx.Client(timeout=httpx.Timeout(timeout, connect=5.0))
        self._endpoint = xds_endpoint(endpoint)
        self._transports: dict[str, XdsTransport] = {}
        self._updaters: dict[str, XdsMetadataUpdater] = {}
        # ITI-57 sends the whole DocumentEntry again (and the VIHF names the patient and the author): the
        # metadata is derived from the signed CDA, found by uniqueId (in our database, see
        # national_record_transports).
        self._cda_lookup = cda_lookup

    def _transport_for(self, structure_id_nat: str) -> XdsTransport:
        """Indirect authentication: the region's platform key signs a VIHF naming the author's structure."""
        import dataclasses

        from dcc.adapters.national_record.xds import XdsTransport

        if structure_id_nat not in self._transports:
            identity = dataclasses.replace(self._identity, id_nat=structure_id_nat or self._identity.id_nat)
            self._transports[structure_id_nat] = XdsTransport(self._endpoint, identity=identity,
                                                              client=self._client)
        return self._transports[structure_id_nat]

    def submit(self, submission: Submission) -> SubmitOutcome:
        from dcc.errors import DeliveryError

        entry = checked_entry(submission)
        replaced = None
        if entry.replaces:  # RPLC: the target's entryUUID as the registry knows it (ITI-18, CI-SIS TD2.1 / DMP_3.1)
            target = self._updater_for(entry.author_structure_id).replacement_target(entry)
            if target is None:
                raise DeliveryError(f"Le DMP ne contient pas le document remplacé ({entry.replaces}) : "
                                    "remplacement impossible.", permanent=True,
                                    error_code="document_remplace_inconnu")
            replaced = target.entry_uuid
        transport = self._transport_for(entry.author_structure_id)
        result = transport.submit(submission.cda, entry, replaced_entry_uuid=replaced)
        return SubmitOutcome(status_code=getattr(result, "status_code", 200),
                             excerpt=str(getattr(result, "excerpt", ""))[:500])

    def _updater_for(self, structure_id_nat: str) -> XdsMetadataUpdater:
        import dataclasses

        from dcc.adapters.national_record.xds import XdsMetadataUpdater

        if structure_id_nat not in self._updaters:
            identity = dataclasses.replace(self._identity, id_nat=structure_id_nat or self._identity.id_nat)
            self._updaters[structure_id_nat] = XdsMetadataUpdater(
                xds_sibling_endpoint(self._endpoint, ITI57_PATH), xds_sibling_endpoint(self._endpoint, ITI18_PATH),
                identity=identity, client=self._client)
        return self._updaters[structure_id_nat]

    def _update(self, unique_id: str, *, add: tuple[str, ...] = (), remove: tuple[str, ...] = ()) -> SubmitOutcome:
        """ITI-18 (current version) then ITI-57 (new version with the codes changed); nothing is sent when
        the DMP already holds the wanted codes, so a retry after an ambiguous failure converges."""
        from dcc.adapters.national_record.metadata import entry_from_cda
        from dcc.errors import DeliveryError, ValidationFailed

        cda = self._cda_lookup(unique_id) if self._cda_lookup is not None else None
        if cda is None:
            raise DeliveryError(f"Document {unique_id} introuvable localement : mise à jour des métadonnées "
                                "impossible.", permanent=True, error_code="document_introuvable")
        try:
            entry = entry_from_cda(cda)
        except ValidationFailed as exc:
            raise DeliveryError(f"Métadonnées refusées avant envoi : {exc.message}", permanent=True,
                                error_code="metadonnees_invalides") from exc
        result = self._updater_for(entry.author_structure_id).update_confidentiality(entry, add=add, remove=remove)
        return SubmitOutcome(status_code=result.status_code, excerpt=result.excerpt[:500])

    def update_visibility(self, unique_id: str, visible: bool) -> SubmitOutcome:
        """Announcement consultation done (visible) or not: ITI-57 with or without INVISIBLE_PATIENT."""
        if visible:
            return self._update(unique_id, remove=("INVISIBLE_PATIENT",))
        return self._update(unique_id, add=("INVISIBLE_PATIENT",))

    def update_masking(self, unique_id: str, masked: bool) -> SubmitOutcome:
        """Masking from professionals asked by the patient, or lifted: ITI-57 with or without MASQUE_PS."""
        if masked:
            return self._update(unique_id, add=("MASQUE_PS",))
        return self._update(unique_id, remove=("MASQUE_PS",))

    def update_legal_representatives_visibility(self, unique_id: str, hidden: bool) -> SubmitOutcome:
        """A minor's secret from their legal representatives recorded, or lifted: ITI-57 with or without
        INVISIBLE_REPRESENTANTS_LEGAUX."""
        if hidden:
            return self._update(unique_id, add=("INVISIBLE_REPRESENTANTS_LEGAUX",))
        return self._update(unique_id, remove=("INVISIBLE_REPRESENTANTS_LEGAUX",))

    def close(self) -> None:
        self._client.close()


class MhdNationalRecord:
    """Transport port over the MHD ITI-65 adapter (PDSm): the same metadata as ITI-41, derived from the CDA
    and checked before sending; metadata updates (visibility, masking) PATCH the DocumentReference."""

    def __init__(self, endpoint: str, *, timeout: float = 10.0, client: httpx.Client | None = None) -> None:
        import httpx

        from dcc.adapters.national_record.mhd import MhdTransport

        self._client = client or httpx.Client(timeout=httpx.Timeout(timeout, connect=5.0))
        self._transport = MhdTransport(mhd_base_url(endpoint), client=self._client)

    def submit(self, submission: Submission) -> SubmitOutcome:
        entry = checked_entry(submission)
        result = self._transport.submit(submission.cda, entry, replaces_unique_id=submission.replaces_unique_id)
        return SubmitOutcome(status_code=result.status_code, excerpt=result.excerpt[:500])

    def update_visibility(self, unique_id: str, visible: bool) -> SubmitOutcome:
        """Announcement consultation done (visible) or not: PATCH securityLabel (INVISIBLE_PATIENT)."""
        result = self._transport.set_security_label(unique_id, "INVISIBLE_PATIENT", present=not visible)
        return SubmitOutcome(status_code=result.status_code, excerpt=result.excerpt[:500])

    def update_masking(self, unique_id: str, masked: bool) -> SubmitOutcome:
        """Masking from professionals asked by the patient, or lifted: PATCH securityLabel (MASQUE_PS)."""
        result = self._transport.set_security_label(unique_id, "MASQUE_PS", present=masked)
        return SubmitOutcome(status_code=result.status_code, excerpt=result.excerpt[:500])

    def update_legal_representatives_visibility(self, unique_id: str, hidden: bool) -> SubmitOutcome:
        """A minor's secret from their legal representatives recorded, or lifted: PATCH securityLabel
        (INVISIBLE_REPRESENTANTS_LEGAUX, JDV_J110)."""
        result = self._transport.set_security_label(unique_id, "INVISIBLE_REPRESENTANTS_LEGAUX", present=hidden)
        return SubmitOutcome(status_code=result.status_code, excerpt=result.excerpt[:500])

    def close(self) -> None:
        self._client.close()


def national_record_transports(db: Database, settings: Settings | None = None, *,
                               regions: frozenset[str] | None = None) -> dict[str, Transport]:
    """One transport per region (`dmp:<code>`), each with its own sending identity and endpoint; with `regions`,
    only those regions' (a worker host that holds only their certificates and seal keys).

    Region.endpoint is the national record's base URL (e.g. the simulator's root); Region.transport picks
    ITI-41 (`xds`: `<endpoint>/xds/iti41`) or MHD ITI-65 (`mhd`: `<endpoint>/fhir`)."""
    from sqlalchemy import select

    from dcc.adapters.db import models as m

    settings = settings or get_settings()
    check_production_identity(settings)
    out: dict[str, Transport] = {}
    with db.uow() as uow:
        for region in uow.session.scalars(select(m.Region)).all():
            if regions is not None and region.code not in regions:
                continue
            if not region.endpoint:
                continue
            if region.transport == "mhd":
                out[f"dmp:{region.code}"] = MhdNationalRecord(region.endpoint, timeout=settings.dmp_timeout_s,
                                                              client=dmp_http_client(settings, region.code))
                continue
            est = uow.session.scalars(select(m.Establishment).where(m.Establishment.region_id == region.id)
                                      .order_by(m.Establishment.finess).limit(1)).first()
            if est is None:
                continue
            out[f"dmp:{region.code}"] = XdsNationalRecord(
                region.endpoint, identity_dir=settings.resolved_pki_dir / "regions" / region.code,
                structure_name=est.name, structure_id_nat=struct_id_nat(est.finess), timeout=settings.dmp_timeout_s,
                cda_lookup=database_cda_lookup(db),
                identity=sender_identity(settings, region.code, est.name, struct_id_nat(est.finess)),
                client=dmp_http_client(settings, region.code))
    return out


def parse_smtp_relay(relay: str) -> tuple[str, int]:
    """Host and port of an MSSanté relay written `smtp://host:port` (port 25 when omitted)."""
    from urllib.parse import urlsplit

    from dcc.errors import ConfigurationError

    parts = urlsplit(relay.strip())
    try:
        port = parts.port or 25
    except ValueError as exc:
        raise ConfigurationError(f"Relais MSSanté invalide « {relay} » : port incorrect.") from exc
    if parts.scheme != "smtp" or not parts.hostname:
        raise ConfigurationError(f"Relais MSSanté invalide « {relay} » : attendu smtp://hôte:port.")
    return parts.hostname, port


def mssante_transports(db: Database, *, regions: frozenset[str] | None = None) -> dict[str, Transport]:
    """One secure-messaging transport per region with an MSSanté relay (`mss:<code>`): the signed documents
    go to the referring GP and the correspondents named in the CDA, from the region's sending mailbox; with
    `regions`, only those regions'."""
    from sqlalchemy import select

    from dcc.adapters.db import models as m
    from dcc.adapters.messaging.smtp import MssanteMailer
    from dcc.adapters.messaging.transport import MssanteCorrespondents
    from dcc.errors import ConfigurationError
    from dcc.logging import get_logger

    out: dict[str, Transport] = {}
    with db.uow() as uow:
        for region in uow.session.scalars(select(m.Region).where(m.Region.mss_relay != "")).all():
            if regions is not None and region.code not in regions:
                continue
            try:
                host, port = parse_smtp_relay(region.mss_relay)
            except ConfigurationError as exc:
                # one region's bad setting must not stop the other deliveries (its messages are recorded
                # as failed, `destination_inconnue`, and can be replayed once the setting is fixed)
                get_logger(__name__).error("mssante.relay_invalid", region=region.code, error=exc.message)
                continue
            # one SMTP session per relay for the dispatcher's run (closed with the transports)
            out[f"mss:{region.code}"] = MssanteCorrespondents(MssanteMailer(host, port, region.mss_sender,
                                                                            keep_alive=True))
    return out


def delivery_transports(db: Database, settings: Settings | None = None, *,
                        regions: frozenset[str] | None = None) -> dict[str, Transport]:
    """Every outbox destination's transport: the national record (`dmp:<code>`) and secure messaging
    (`mss:<code>`); with `regions`, only those regions' (a dispatcher scoped to its host's regions). The
    dispatcher (flows.delivery) uses this."""
    from dcc.errors import ConfigurationError

    if regions is not None:
        known = region_codes(db)
        unknown = sorted(regions - known)
        if not regions or unknown:
            raise ConfigurationError(
                "Régions de distribution inconnues : " + (", ".join(unknown) or "aucune région donnée")
                + f" (régions enregistrées : {', '.join(sorted(known)) or 'aucune'}).")
    return {**national_record_transports(db, settings, regions=regions), **mssante_transports(db, regions=regions)}


def region_codes(db: Database) -> frozenset[str]:
    """The codes of the regions registered in this database."""
    from sqlalchemy import select

    from dcc.adapters.db import models as m

    with db.uow() as uow:
        return frozenset(uow.session.scalars(select(m.Region.code)))


def database_cda_lookup(db: Database) -> Callable[[str], bytes | None]:
    """The signed CDA of a document by uniqueId, read from our database (for ITI-57 metadata updates)."""

    def lookup(unique_id: str) -> bytes | None:
        from sqlalchemy import select

        from dcc.adapters.db import models as m

        with db.uow() as uow:
            return uow.session.scalars(select(m.Document.cda).where(m.Document.unique_id == unique_id)).first()

    return lookup
