"""PDF rendering of clinical documents (Fiche RCP, PPS) with WeasyPrint."""

from dcc.adapters.rendering.pdf import (
    DEFAULT_VARIANT,
    TEMPLATE_VERSION,
    AssetOnlyFetcher,
    PdfAttachment,
    PdfRenderer,
    default_templates_dir,
)

__all__ = [
    "DEFAULT_VARIANT",
    "TEMPLATE_VERSION",
    "AssetOnlyFetcher",
    "PdfAttachment",
    "PdfRenderer",
    "default_templates_dir",
]
