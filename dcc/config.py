"""Configuration: every setting is an environment variable prefixed with DCC_ (see README)."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]


class RegionPkcs11Seal(BaseModel):
    """A region's own seal key on a PKCS#11 token (one entry of DCC_DMP_SEAL_PKCS11_BY_REGION). No secret here:
    the token's PIN comes from DCC_DMP_SEAL_PKCS11_PIN_BY_REGION (else DCC_DMP_SEAL_PKCS11_PIN)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key_label: str = ""  # CKA_LABEL of the RSA private key
    key_id: str = ""  # CKA_ID of the key (and of its certificate), hexadecimal; instead of or with key_label
    cert_label: str = ""  # label of the certificate; empty: the key's label, else the key's id
    token_label: str = ""  # empty: DCC_DMP_SEAL_PKCS11_TOKEN_LABEL
    lib: str = ""  # PKCS#11 module; empty: DCC_DMP_SEAL_PKCS11_LIB

    @field_validator("key_id")
    @classmethod
    def _hex(cls, value: str) -> str:
        value = value.strip().lower().removeprefix("0x")
        bytes.fromhex(value)  # ValueError: not hexadecimal
        return value


class Pkcs11Seal(BaseModel):
    """A seal key on a PKCS#11 token, resolved for one region (its own entry over the defaults)."""

    model_config = ConfigDict(frozen=True)

    lib: str
    token_label: str
    key_label: str
    key_id: str
    cert_label: str
    pin: str = Field("", repr=False)
    region_code: str = ""  # the region whose own entry this is; empty: DCC_DMP_SEAL_PKCS11_*

    @property
    def where(self) -> str:
        """The settings this seal comes from (French messages)."""
        return f"DCC_DMP_SEAL_PKCS11_BY_REGION[{self.region_code}]" if self.region_code else "DCC_DMP_SEAL_PKCS11_*"


class RegionTls(BaseModel):
    """A region's own TLS client certificate for the connection to the DMP (one entry of DCC_DMP_TLS_BY_REGION)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cert: Path
    key: Path | None = None  # empty: the key is in `cert`


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DCC_", extra="ignore")

    env: Literal["development", "test", "production"] = Field(
        "development", description="Deployment environment; `production` refuses demo keys and dev auth."
    )
    var_dir: Path = Field(Path("var"), description="Working directory for the SQLite database, PKI, Prefect home.")
    database_url: str = Field(
        "", description="SQLAlchemy URL; default sqlite:///<var_dir>/dcc.sqlite3. PostgreSQL: postgresql+psycopg://…"
    )
    ans_kit: Path = Field(
        Path("../shared/ans-cda-kit"), description="ANS CDA kit location (only the conformance checks read it)."
    )
    referentials_dir: Path | None = Field(
        None, description="Folder the `refresh_referentials` flow imports new referential versions from (SVS "
        "value sets, terminologies, drug and regional-guideline CSV); empty: the flow does nothing.",
    )
    pdf_variant: str = Field("pdf/a-1b", description="WeasyPrint PDF variant: pdf/a-1b, pdf/a-2b, pdf/a-3b.")
    tsa_url: str = Field("", description="RFC 3161 time-stamping authority; when set, signatures are PAdES B-T.")
    pki_dir: Path | None = Field(None, description="Demo PKI directory; default <var_dir>/pki.")
    signer: Literal["pkcs12", "pkcs11", "esignsante"] = Field(
        "pkcs12",
        description="How physicians sign: `pkcs12` (a PKCS#12 file per physician, demo PKI; refused in "
        "production), `pkcs11` (smart card or HSM), `esignsante` (the ANS remote signing service).",
    )
    pkcs11_lib: str = Field(
        "", description="PKCS#11 module of the card or HSM, e.g. /usr/lib/softhsm/libsofthsm2.so."
    )
    pkcs11_token_label: str = Field("", description="Label of the PKCS#11 token (card or HSM partition).")
    pkcs11_pin: str = Field(
        "", description="User PIN of the PKCS#11 token; empty: the reader's PIN pad (protected path)."
    )
    pkcs11_pin_pad: bool = Field(
        False, description="The card reader has a PIN pad: the sign page asks for no PIN (protected path); "
        "otherwise, with DCC_SIGNER=pkcs11, the sign page asks the physician for their card PIN.",
    )
    signing_trust_ca: Path | None = Field(
        None, description="PEM certificate of the CA that issues the physicians' signing certificates (IGC Santé): "
        "every card, HSM or esignsante certificate is checked against it before signing; required in production "
        "(elsewhere: the demo CA when present).",
    )
    signing_crl: Path | None = Field(
        None, description="CRL of DCC_SIGNING_TRUST_CA (PEM or DER, kept fresh by the operator): a revoked "
        "certificate, or an outdated CRL, refuses the signature; required in production.",
    )
    esignsante_url: str = Field(
        "", description="Base URL of the esignsante service (PAdES at <url>/signatures/padesbaselineb)."
    )
    esignsante_conf_id: int | None = Field(
        None,
        description="esignsante signature configuration (idSignConf); empty: the one whose certificate "
        "DN carries the physician's national id, looked up in <url>/configurations.",
    )
    esignsante_secret: str = Field("", description="Secret sent with each esignsante signature request.")
    dmp_seal_p12: Path | None = Field(
        None, description="PKCS#12 file of the structure's seal certificate (certificat de cachet serveur) that "
        "signs the VIHF; empty: the demo key (refused in production).",
    )
    dmp_seal_p12_password: str = Field("", description="Password of DCC_DMP_SEAL_P12 (a secret: credential file).")
    dmp_seal_p12_by_region: dict[str, Path] = Field(
        default_factory=dict, description='Per-region seal PKCS#12 overriding DCC_DMP_SEAL_P12, as JSON: '
        '{"ARA": "/etc/dcc/ara-seal.p12"}.',
    )
    dmp_seal_p12_password_by_region: dict[str, str] = Field(
        default_factory=dict, description="Per-region passwords of DCC_DMP_SEAL_P12_BY_REGION, as JSON.",
    )
    dmp_seal_pkcs11_lib: str = Field(
        "", description="PKCS#11 module of the HSM holding the seal key (instead of DCC_DMP_SEAL_P12; a region's "
        "own DCC_DMP_SEAL_P12_BY_REGION still wins), e.g. the HSM vendor's library.",
    )
    dmp_seal_pkcs11_token_label: str = Field("", description="Label of the token (HSM partition) of the seal key.")
    dmp_seal_pkcs11_key_label: str = Field("", description="Label (CKA_LABEL) of the seal's RSA private key.")
    dmp_seal_pkcs11_cert_label: str = Field(
        "", description="Label of the seal certificate on the token; empty: the key's label."
    )
    dmp_seal_pkcs11_pin: str = Field(
        "", description="User PIN of the seal's token (a secret: credential file dcc_dmp_seal_pkcs11_pin); empty: "
        "the token's protected authentication path.",
    )
    dmp_seal_pkcs11_key_id: str = Field(
        "", description="CKA_ID (hexadecimal) of the seal's key and certificate, instead of or with its label.")
    dmp_seal_pkcs11_by_region: dict[str, RegionPkcs11Seal] = Field(
        default_factory=dict, description='Per-region seal key on a PKCS#11 token, as JSON keyed by region code: '
        '{"ARA": {"key_label": "cachet-ara"}, "BRE": {"key_id": "0b12", "token_label": "hsm-bre", "lib": "…"}} '
        "(token_label and lib default to DCC_DMP_SEAL_PKCS11_TOKEN_LABEL / _LIB). No PIN here.",
    )
    dmp_seal_pkcs11_pin_by_region: dict[str, str] = Field(
        default_factory=dict, description="Per-region PINs of DCC_DMP_SEAL_PKCS11_BY_REGION, as JSON (a secret: "
        "credential file dcc_dmp_seal_pkcs11_pin_by_region); a region without one uses DCC_DMP_SEAL_PKCS11_PIN.",
    )
    dmp_tls_cert: Path | None = Field(None, description="PEM client certificate for mutual TLS with the DMP.")
    dmp_tls_key: Path | None = Field(None, description="PEM private key of DCC_DMP_TLS_CERT.")
    dmp_tls_by_region: dict[str, RegionTls] = Field(
        default_factory=dict, description='Per-region TLS client certificate overriding DCC_DMP_TLS_CERT / _KEY, as '
        'JSON: {"ARA": {"cert": "/etc/dcc/ara-tls.pem", "key": "/etc/dcc/ara-tls.key"}}.',
    )
    dmp_trust_store: Path | None = Field(
        None, description="PEM bundle of the trust anchors the DMP's server certificate is checked against "
        "(required in production).",
    )
    lps_homologation_id: str = Field(
        "DCC-DEMO", description="LPS_ID_HOMOLOGATION_DMP: the DMP homologation number issued to the operator "
        "(the demo value is refused in production).",
    )
    lps_name: str = Field("dcc", description="Software name sent in the VIHF (LPS_Nom).")
    lps_version: str = Field("0.1.0", description="Software version sent in the VIHF (LPS_Version).")
    dmp_timeout_s: float = Field(10.0, description="Timeout of one HTTP exchange with the national record.")
    outbox_max_attempts: int = Field(8, description="Transient failures before a message goes to dead letter.")
    outbox_lease_s: int = Field(60, description="Lease duration of a claimed outbox message, in seconds.")
    outbox_backoff_base_s: float = Field(1.0, description="First retry delay; doubles at each attempt (with jitter).")
    outbox_backoff_max_s: float = Field(300.0, description="Upper bound of the retry delay.")
    log_level: str = Field("INFO", description="Log level of dcc's structured logs.")
    auth_mode: Literal["dev", "oidc"] = Field(
        "dev", description="Authentication: `dev` (local signed tokens, demo users; refused in production) or `oidc`."
    )
    oidc_discovery_url: str = Field(
        "", description="OIDC provider discovery URL (…/.well-known/openid-configuration), e.g. Pro Santé Connect."
    )
    oidc_client_id: str = Field("", description="OIDC client id registered at the provider.")
    oidc_client_secret: str = Field("", description="OIDC client secret (client_secret_basic).")
    oidc_scope: str = Field("openid profile", description="OIDC scopes; Pro Santé Connect: `openid scope_all`.")
    oidc_national_id_claim: str = Field(
        "preferred_username",
        description="Claim carrying the professional's national id (RPPS); Pro Santé Connect: `SubjectNameID`.",
    )
    db_pool_size: int = Field(
        20, description="Database connections kept open per process (the web server runs 40 threads)."
    )
    db_max_overflow: int = Field(20, description="Extra connections opened under load, beyond db_pool_size.")
    db_pool_timeout_s: float = Field(
        10.0, description="Longest wait for a free connection; then the request answers 503 with Retry-After."
    )
    db_busy_timeout_ms: int = Field(
        5000,
        description="Longest wait for a lock: SQLite busy_timeout (the write lock), PostgreSQL lock_timeout; "
        "then the request answers 503 with Retry-After.",
    )
    db_ping_idle_s: float = Field(
        2.0,
        description="PostgreSQL: a pooled connection idle longer than this is checked (SELECT 1) before use, and "
        "replaced when the server dropped it (restart, failover); one used more recently is not (a connection "
        "lost meanwhile answers 503 once and the pool is renewed).",
    )
    dask_address: str = Field(
        "",
        description="A Dask scheduler (tcp://host:8786): the generate_pending_documents flow fans batches of due "
        "rows out to that cluster through prefect-dask; empty: the flow run generates in its own process.",
    )
    auth_user_cache_s: float = Field(
        5.0, ge=0, le=60,
        description="How long a web process keeps an authenticated user's account (role, region, active) before "
        "reading it again: a deactivation or a role change takes effect within this delay (0: read on every "
        "request).",
    )
    audit_seal_interval_s: float = Field(
        1.0, description="How often the web process seals new audit entries into the hash chain (0: never)."
    )
    break_glass_minutes: int = Field(
        240, ge=15, le=1440, description="How long an emergency access (break-the-glass) lasts, in minutes."
    )
    session_secret: str = Field(
        "", description="Key signing session cookies and dev tokens; default: a key generated in <var_dir>/session.key."
    )

    @field_validator("dmp_seal_p12", "dmp_tls_cert", "dmp_tls_key", "dmp_trust_store", "signing_trust_ca",
                     "signing_crl", mode="before")
    @classmethod
    def _empty_path(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("esignsante_conf_id", mode="before")
    @classmethod
    def _empty_conf_id(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    def seal_p12_for(self, region_code: str) -> tuple[Path | None, str]:
        """The seal PKCS#12 file and its password for a region: the region's own, else the default one."""
        if region_code in self.dmp_seal_p12_by_region:
            return (self.dmp_seal_p12_by_region[region_code],
                    self.dmp_seal_p12_password_by_region.get(region_code, self.dmp_seal_p12_password))
        return self.dmp_seal_p12, self.dmp_seal_p12_password

    def seal_pkcs11_for(self, region_code: str) -> Pkcs11Seal | None:
        """The PKCS#11 seal of a region: its own entry of DCC_DMP_SEAL_PKCS11_BY_REGION (module and token
        defaulting to DCC_DMP_SEAL_PKCS11_LIB / _TOKEN_LABEL, PIN from DCC_DMP_SEAL_PKCS11_PIN_BY_REGION, else
        DCC_DMP_SEAL_PKCS11_PIN), else the default DCC_DMP_SEAL_PKCS11_* when set (with regional entries, only
        when it names a key); None: no PKCS#11 seal."""
        own = self.dmp_seal_pkcs11_by_region.get(region_code)
        if own is not None:
            return Pkcs11Seal(lib=own.lib or self.dmp_seal_pkcs11_lib,
                              token_label=own.token_label or self.dmp_seal_pkcs11_token_label,
                              key_label=own.key_label, key_id=own.key_id, cert_label=own.cert_label,
                              pin=self.dmp_seal_pkcs11_pin_by_region.get(region_code, self.dmp_seal_pkcs11_pin),
                              region_code=region_code)
        if not self.dmp_seal_pkcs11_lib or (self.dmp_seal_pkcs11_by_region and not (
                self.dmp_seal_pkcs11_key_label or self.dmp_seal_pkcs11_key_id)):
            return None  # the module and token serve only as the regions' defaults: no default key named
        return Pkcs11Seal(lib=self.dmp_seal_pkcs11_lib, token_label=self.dmp_seal_pkcs11_token_label,
                          key_label=self.dmp_seal_pkcs11_key_label, key_id=self.dmp_seal_pkcs11_key_id,
                          cert_label=self.dmp_seal_pkcs11_cert_label, pin=self.dmp_seal_pkcs11_pin)

    def tls_client_for(self, region_code: str | None) -> tuple[Path | None, Path | None]:
        """The TLS client certificate and key of a region's connection: its own (DCC_DMP_TLS_BY_REGION), else
        DCC_DMP_TLS_CERT / DCC_DMP_TLS_KEY."""
        own = self.dmp_tls_by_region.get(region_code or "")
        if own is not None:
            return own.cert, own.key
        return self.dmp_tls_cert, self.dmp_tls_key

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'dcc.sqlite3').as_posix()}"

    @property
    def resolved_pki_dir(self) -> Path:
        return self.pki_dir or self.var_dir / "pki"

    @property
    def prefect_home(self) -> Path:
        return self.var_dir / "prefect"


@cache
def get_settings() -> Settings:
    """The settings from DCC_* variables and, under systemd, from the service's credentials: a file named
    e.g. `dcc_database_url` in $CREDENTIALS_DIRECTORY (LoadCredential=, deploy/README.md) gives DCC_DATABASE_URL,
    so secrets need not sit in an environment file. A variable, when both are set, wins."""
    credentials = os.environ.get("CREDENTIALS_DIRECTORY", "")
    if credentials and Path(credentials).is_dir():
        return Settings(_secrets_dir=credentials)
    return Settings()


def configure_prefect(settings: Settings) -> None:
    """Prefect in its local (ephemeral) mode with its state under var/, unless the caller set an API URL."""
    os.environ.setdefault("PREFECT_HOME", str(settings.prefect_home.resolve()))
    # on PostgreSQL nothing else creates var/ (SQLite's file does): the ephemeral server's SQLite needs it
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE", "500")
