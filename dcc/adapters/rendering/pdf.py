"""Fiche RCP and PPS as PDF/A: Jinja2 templates rendered by WeasyPrint.

One `PdfRenderer` is created per process and reused: the stylesheet, the packaged fonts
(`FontConfiguration`) and the Jinja2 environment are loaded once.

Security: nothing in a rendered document may make WeasyPrint read a local file or open a
connection. Every field is HTML-escaped by Jinja2 (autoescape for every template), and the URL
fetcher only serves the project's own assets under the private `dcc-asset:` scheme, read from the
templates directory; anything else (file://, http(s)://, data:, relative URLs) is refused.
"""

from __future__ import annotations

import logging
import mimetypes
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import jinja2
import weasyprint
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher, URLFetcherResponse, URLFetchingError

from dcc.domain import clock
from dcc.domain.documents import DocumentKind, FrcpContent, PpsContent, Professional
from dcc.errors import ConfigurationError

log = logging.getLogger(__name__)

TEMPLATE_VERSION = "frcp-2026.1/pps-2026.1"
DEFAULT_VARIANT = "pdf/a-1b"
ASSET_SCHEME = "dcc-asset"

# WeasyPrint 70 variants we accept. PDF/X is deliberately left out (print workflows only).
SUPPORTED_VARIANTS = frozenset({
    "pdf/a-1b", "pdf/a-2b", "pdf/a-3b", "pdf/a-2u", "pdf/a-3u", "pdf/a-4u",
    "pdf/a-1a", "pdf/a-2a", "pdf/a-3a", "pdf/ua-1", "pdf/ua-2",
})
# Variants that may carry embedded files (PDF/A-3 associated files, e.g. the CDA).
ATTACHMENT_VARIANTS = frozenset({"pdf/a-3b", "pdf/a-3u", "pdf/a-3a"})

_ASSET_SUFFIXES = {".ttf": "font/ttf", ".otf": "font/otf", ".woff": "font/woff", ".woff2": "font/woff2",
                   ".css": "text/css", ".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg"}


def default_templates_dir() -> Path:
    env = os.environ.get("DCC_TEMPLATES_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "templates" / "pdf"


class AssetOnlyFetcher(URLFetcher):
    """Serves `dcc-asset:<relative path>` from the templates directory and refuses everything else."""

    def __init__(self, root: Path) -> None:
        super().__init__(timeout=2, allowed_protocols={ASSET_SCHEME}, allow_redirects=False,
                         fail_on_errors=False)
        self._root = root.resolve()
        self._cache: dict[str, tuple[bytes, str]] = {}
        self._lock = threading.Lock()

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        prefix = ASSET_SCHEME + ":"
        if not url.startswith(prefix):
            log.warning("PDF rendering: blocked resource %.80s", url)
            raise URLFetchingError(f"Ressource externe refusée : {url[:80]}")
        rel = url[len(prefix):].split("?", 1)[0].split("#", 1)[0].lstrip("/")
        with self._lock:
            cached = self._cache.get(rel)
            if cached is None:
                cached = self._load(rel)
                self._cache[rel] = cached
        body, content_type = cached
        return URLFetcherResponse(url, body=body, headers={"Content-Type": content_type})

    def _load(self, rel: str) -> tuple[bytes, str]:
        path = (self._root / rel).resolve()
        suffix = path.suffix.lower()
        if not path.is_relative_to(self._root) or suffix not in _ASSET_SUFFIXES or not path.is_file():
            raise URLFetchingError(f"Ressource inconnue : {rel[:80]}")
        return path.read_bytes(), _ASSET_SUFFIXES.get(suffix) or mimetypes.guess_type(path.name)[0] or ""


@dataclass(frozen=True)
class PdfAttachment:
    """An embedded file (PDF/A-3 associated file), e.g. the CDA R2 of the same document."""

    name: str
    data: bytes
    description: str = ""
    relationship: str = "Alternative"  # "Source" | "Data" | "Alternative" | "Supplement"


# ---------------------------------------------------------------- Jinja2 filters (French display)


# Every date and time a person reads is Europe/Paris (dcc.domain.clock): an instant is converted before it
# is formatted, whatever zone it was stored in (UTC in the database).


def _date_fr(value: date | datetime | None) -> str:
    return clock.fr_date(value)


def _datetime_fr(value: datetime | None) -> str:
    return clock.fr_datetime(value)


def _prof(p: Professional | None) -> str:
    if p is None:
        return ""
    return f"Dr {p.given} {p.family.upper()}".strip()


def _ins(matricule: str) -> str:
    m = matricule.replace(" ", "")
    if len(m) != 15:
        return matricule
    parts = (m[0], m[1:3], m[3:5], m[5:7], m[7:10], m[10:13], m[13:15])
    return " ".join(parts)


def _sex(value: str) -> str:
    return {"F": "Féminin", "M": "Masculin"}.get(value, "Indéterminé")


def _phone(value: str) -> str:
    v = value.removeprefix("tel:").replace(" ", "").replace(".", "")
    if len(v) == 10 and v.isdigit():
        return "\u00a0".join(v[i:i + 2] for i in range(0, 10, 2))  # no line break inside
    return value.removeprefix("tel:")


_LABELS: dict[str, dict[str, str]] = {
    "quorum": {"met": "Quorum atteint", "not_met": "Quorum non atteint", "unknown": "Quorum non renseigné"},
    "phase": {"initial": "Prise en charge initiale", "relapse": "Rechute / récidive"},
    "case_status": {"discussed": "Dossier discuté en séance",
                    "registered": "Dossier enregistré (cas standard, sans discussion)"},
    "board_kind": {"organ": "RCP d'organe", "transversal": "RCP transversale"},
}


def _label(value: str, group: str) -> str:
    return _LABELS.get(group, {}).get(value, value)


def _build_env(templates_dir: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        autoescape=True,  # every template: select_autoescape() would miss ".html.j2"
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(date_fr=_date_fr, datetime_fr=_datetime_fr, prof=_prof, ins=_ins, sex=_sex,
                       phone=_phone, label=_label, paris=clock.paris)
    env.globals["template_version"] = TEMPLATE_VERSION
    return env


# ---------------------------------------------------------------- renderer


class PdfRenderer:
    """Renders FRCP / PPS contents to PDF/A bytes. Create once, reuse (thread-safe, serialised)."""

    def __init__(self, *, variant: str | None = None, templates_dir: Path | None = None) -> None:
        self.variant = (variant or os.environ.get("DCC_PDF_VARIANT") or DEFAULT_VARIANT).lower()
        if self.variant not in SUPPORTED_VARIANTS:
            raise ConfigurationError(
                f"Variante PDF non prise en charge : « {self.variant} » "
                f"(valeurs possibles : {', '.join(sorted(SUPPORTED_VARIANTS))})."
            )
        self.templates_dir = (templates_dir or default_templates_dir()).resolve()
        if not (self.templates_dir / "style.css").is_file():
            raise ConfigurationError(f"Gabarits PDF introuvables dans {self.templates_dir}.")
        self.url_fetcher = AssetOnlyFetcher(self.templates_dir)
        self.font_config = FontConfiguration()
        self._env = _build_env(self.templates_dir)
        self._stylesheets = [
            weasyprint.CSS(string=(self.templates_dir / "style.css").read_text(encoding="utf-8"),
                           url_fetcher=self.url_fetcher, font_config=self.font_config)
        ]
        # WeasyPrint/Pango objects shared across renders are not documented as thread-safe.
        self._lock = threading.Lock()

    # -- public API

    def render_frcp(self, content: FrcpContent, *, attachments: Sequence[PdfAttachment] = ()) -> bytes:
        return self.html_to_pdf(self.render_html(DocumentKind.FRCP, content), attachments=attachments)

    def render_pps(self, content: PpsContent, *, attachments: Sequence[PdfAttachment] = ()) -> bytes:
        return self.html_to_pdf(self.render_html(DocumentKind.PPS, content), attachments=attachments)

    def render_html(self, kind: DocumentKind | str, content: FrcpContent | PpsContent) -> str:
        kind = DocumentKind(kind)
        expected = FrcpContent if kind is DocumentKind.FRCP else PpsContent
        if not isinstance(content, expected):
            raise TypeError(f"{kind} expects {expected.__name__}, got {type(content).__name__}")
        template = self._env.get_template("frcp.html.j2" if kind is DocumentKind.FRCP else "pps.html.j2")
        return template.render(c=content, kind=kind.value)

    def html_to_pdf(self, html: str, *, attachments: Sequence[PdfAttachment] = ()) -> bytes:
        """Lays out already-rendered HTML. The fetcher still refuses any non-asset resource."""
        if attachments and self.variant not in ATTACHMENT_VARIANTS:
            raise ConfigurationError(
                f"La variante {self.variant} n'autorise pas les fichiers joints (utiliser PDF/A-3)."
            )
        wp_attachments = [
            weasyprint.Attachment(string=a.data, name=a.name, description=a.description or a.name,
                                  relationship=a.relationship, url_fetcher=self.url_fetcher)
            for a in attachments
        ]
        tagged = not self.variant.startswith("pdf/x")
        with self._lock:
            document = weasyprint.HTML(string=html, base_url=None, url_fetcher=self.url_fetcher)
            pdf = document.write_pdf(
                stylesheets=self._stylesheets,
                font_config=self.font_config,
                pdf_variant=self.variant,
                pdf_tags=tagged,
                attachments=wp_attachments or None,
            )
        assert isinstance(pdf, bytes)
        return pdf
