"""PDF/A rendering of the Fiche RCP and the PPS (WeasyPrint), checked structurally with pikepdf."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import replace
from html import unescape
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pikepdf
import pytest
from weasyprint.urls import URLFetchingError

from dcc.adapters.rendering import TEMPLATE_VERSION, AssetOnlyFetcher, PdfAttachment, PdfRenderer
from dcc.domain.documents import DocumentKind
from dcc.errors import ConfigurationError
from tests.adapters.rendering.pdf_samples import PATIENT, frcp, pps

SNAPSHOTS = Path(__file__).parent / "snapshots"
TEMPLATES = Path(__file__).resolve().parents[3] / "templates" / "pdf"


@pytest.fixture(scope="module")
def renderer() -> PdfRenderer:
    return PdfRenderer(variant="pdf/a-1b")


@pytest.fixture(scope="module")
def frcp_pdf(renderer: PdfRenderer) -> bytes:
    return renderer.render_frcp(frcp())


@pytest.fixture(scope="module")
def pps_pdf(renderer: PdfRenderer) -> bytes:
    return renderer.render_pps(pps())


def pdf_text(pdf: bytes) -> str:
    if shutil.which("pdftotext"):
        res = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True)
        return res.stdout.decode("utf-8").replace("\u00a0", " ")
    from pypdf import PdfReader  # pragma: no cover - fallback without poppler

    return "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(pdf)).pages)


def pdf_pages_text(pdf: bytes) -> list[str]:
    return pdf_text(pdf).split("\f")


def xmp(pdf: bytes) -> dict[str, object]:
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        return dict(doc.open_metadata().items())


def fonts_embedded(pdf: bytes) -> list[tuple[str, bool]]:
    """(font name, embedded?) for every font used by the pages and their annotations."""
    out: list[tuple[str, bool]] = []
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        for obj in doc.objects:
            if isinstance(obj, pikepdf.Dictionary) and obj.get("/Type") == "/Font":
                if obj.get("/Subtype") == "/Type0":
                    desc = obj.DescendantFonts[0].FontDescriptor
                elif "/FontDescriptor" in obj:
                    desc = obj.FontDescriptor
                else:
                    out.append((str(obj.get("/BaseFont")), False))
                    continue
                embedded = any(k in desc for k in ("/FontFile", "/FontFile2", "/FontFile3"))
                out.append((str(obj.get("/BaseFont")), embedded))
    return out


def attachments(pdf: bytes) -> dict[str, bytes]:
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        found = {name: spec.get_file().read_bytes() for name, spec in doc.attachments.items()}
        for page in doc.pages:  # file attachment annotations
            for annot in page.get("/Annots", []):
                if annot.get("/Subtype") == "/FileAttachment":
                    found[str(annot.get("/Contents", "annot"))] = b""
        return found


# ---------------------------------------------------------------- PDF/A, fonts, text


def test_frcp_is_pdfa_1b_with_embedded_fonts(frcp_pdf: bytes) -> None:
    meta = xmp(frcp_pdf)
    assert meta["{http://www.aiim.org/pdfa/ns/id/}part"] == "1"
    assert meta["{http://www.aiim.org/pdfa/ns/id/}conformance"] == "B"
    with pikepdf.open(io.BytesIO(frcp_pdf)) as doc:
        assert "/OutputIntents" in doc.Root
        assert doc.pdf_version == "1.4"
        assert str(doc.Root.Lang) == "fr"
        assert "/StructTreeRoot" in doc.Root  # tagged
        box = [float(v) for v in doc.pages[0].MediaBox]
        assert box[2] == pytest.approx(595.28, abs=0.5) and box[3] == pytest.approx(841.89, abs=0.5)  # A4
    fonts = fonts_embedded(frcp_pdf)
    assert fonts and all(embedded for _, embedded in fonts), fonts
    assert all("DCC-Sans" in name for name, _ in fonts)  # the shipped fonts, not the host's


def test_frcp_text_identity_on_every_page(frcp_pdf: bytes) -> None:
    pages = [p for p in pdf_pages_text(frcp_pdf) if p.strip()]
    assert len(pages) >= 2
    for number, page in enumerate(pages, start=1):
        assert "LEFÈVRE Marie" in page
        assert "03/12/1984" in page
        assert "2 84 12 75 123 456 43" in page
        assert f"Page {number}/{len(pages)}" in page
    text = "\n".join(pages)
    for expected in ("Fiche de Réunion de Concertation Pluridisciplinaire", "RCP digestive du CHU d'Angers",
                     "Dr Luc BERNARD", "Dr Anne PETIT", "Chimiothérapie adjuvante FOLFOX", "Signatures",
                     "pT3 pN1 cM0", "Quorum atteint", TEMPLATE_VERSION):
        assert expected in text, expected


def test_pps_plain_words_calendar_and_contact(pps_pdf: bytes) -> None:
    text = pdf_text(pps_pdf)
    assert "Votre Programme Personnalisé de Soins" in text
    assert "Madame Dubois" in text
    assert "Qui appeler ?" in text and "02 41 35 30 00" in text
    assert "07/12/2026" in text and "31/05/2027" in text and "Hôpital de jour" in text
    assert "Page 1/" in text
    assert xmp(pps_pdf)["{http://www.aiim.org/pdfa/ns/id/}part"] == "1"
    with pikepdf.open(io.BytesIO(pps_pdf)) as doc:
        assert str(doc.Root.Lang) == "fr"


def test_title_and_html_lang(renderer: PdfRenderer) -> None:
    html = renderer.render_html("PPS", pps())
    assert '<html lang="fr">' in html
    assert "<title>Programme Personnalisé de Soins</title>" in html


@pytest.mark.parametrize("variant, part", [("pdf/a-2b", "2"), ("pdf/a-3b", "3")])
def test_other_variants(variant: str, part: str) -> None:
    pdf = PdfRenderer(variant=variant).render_pps(pps())
    assert xmp(pdf)["{http://www.aiim.org/pdfa/ns/id/}part"] == part


def test_variant_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DCC_PDF_VARIANT", "pdf/a-2b")
    assert PdfRenderer().variant == "pdf/a-2b"
    monkeypatch.setenv("DCC_PDF_VARIANT", "pdf/a-4b")  # does not exist in WeasyPrint
    with pytest.raises(ConfigurationError, match="Variante PDF non prise en charge"):
        PdfRenderer()


def test_templates_dir_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DCC_TEMPLATES_DIR", str(tmp_path))
    with pytest.raises(ConfigurationError, match="Gabarits PDF introuvables"):
        PdfRenderer()


def test_pdfa3_can_embed_the_cda() -> None:
    cda = b"<?xml version='1.0'?><ClinicalDocument/>"
    pdf = PdfRenderer(variant="pdf/a-3b").render_frcp(
        frcp(), attachments=[PdfAttachment("cda.xml", cda, "CDA R2 de la fiche RCP")]
    )
    assert attachments(pdf) == {"cda.xml": cda}


def test_pdfa1_refuses_attachments(renderer: PdfRenderer) -> None:
    with pytest.raises(ConfigurationError, match="fichiers joints"):
        renderer.render_frcp(frcp(), attachments=[PdfAttachment("cda.xml", b"<x/>")])


# ---------------------------------------------------------------- injection: autoescape + fetcher


class _Canary(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802
        _Canary.hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"x")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def canary() -> Iterator[str]:
    _Canary.hits = []
    server = HTTPServer(("127.0.0.1", 0), _Canary)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _payload(canary: str) -> str:
    return (
        '<link rel="attachment" href="file:///etc/passwd">'
        '<img src="file:///etc/passwd">'
        f'<link rel="stylesheet" href="{canary}/css"><img src="{canary}/img">'
        f"<style>@import url({canary}/import); body {{ background: url(file:///etc/hostname) }}</style>"
        "{{ 7*7 }} {% if true %}jinja{% endif %}"
    )


def test_injected_markup_in_free_text_is_escaped(renderer: PdfRenderer, canary: str) -> None:
    evil = _payload(canary)
    content = frcp(proposal_text=evil, comment=evil, case_summary=evil,
                   patient=replace(PATIENT, birth_given_first=evil))
    html = renderer.render_html(DocumentKind.FRCP, content)
    assert "<link rel=\"attachment\"" not in html and "&lt;link rel=&#34;attachment&#34;" in html
    pdf = renderer.html_to_pdf(html)
    assert attachments(pdf) == {}
    assert _Canary.hits == []
    text = pdf_text(pdf)
    assert "root:x:0:0" not in text
    assert "{{ 7*7 }}" in text  # rendered literally, not evaluated


def test_fetcher_blocks_raw_markup_defence_in_depth(renderer: PdfRenderer, canary: str) -> None:
    # Bypass the templates: raw HTML straight to WeasyPrint, as if autoescape had been forgotten.
    html = f'<html lang="fr"><head><title>t</title></head><body>{_payload(canary)}<p>Texte</p></body></html>'
    pdf = renderer.html_to_pdf(html)
    assert attachments(pdf) == {}
    assert _Canary.hits == []
    assert "root:x:0:0" not in pdf_text(pdf)


@pytest.mark.parametrize("url", [
    "file:///etc/passwd", "http://127.0.0.1:9/x", "https://example.org/a.css", "ftp://example.org/f",
    "data:text/plain,secret", "dcc-asset:../../../etc/passwd", "dcc-asset:/../../pyproject.toml",
    "dcc-asset:frcp.html.j2", "dcc-asset:fonts/absent.ttf",
])
def test_fetcher_refuses(url: str) -> None:
    with pytest.raises(URLFetchingError):
        AssetOnlyFetcher(TEMPLATES).fetch(url)


def test_fetcher_serves_packaged_fonts() -> None:
    resp = AssetOnlyFetcher(TEMPLATES).fetch("dcc-asset:fonts/DejaVuSans.ttf")
    assert resp.read(4) == b"\x00\x01\x00\x00"


# ---------------------------------------------------------------- snapshots of the rendered text


def _normalised_text(html: str) -> str:
    body = re.sub(r"<(style|head)\b.*?</\1>", " ", html, flags=re.S)
    text = unescape(re.sub(r"<[^>]+>", " ", body))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return "\n".join(line for line in lines if line) + "\n"


@pytest.mark.parametrize("kind, factory", [("frcp", frcp), ("pps", pps)])
def test_html_snapshot(renderer: PdfRenderer, kind: str, factory: object) -> None:
    content = factory()  # type: ignore[operator]
    text = _normalised_text(renderer.render_html(kind.upper(), content))
    path = SNAPSHOTS / f"{kind}.txt"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1" or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if os.environ.get("UPDATE_SNAPSHOTS") != "1":
            pytest.fail(f"snapshot {path.name} created; re-run to compare (or set UPDATE_SNAPSHOTS=1)")
    assert text == path.read_text(encoding="utf-8"), "rendered text changed: UPDATE_SNAPSHOTS=1 to accept"


# ---------------------------------------------------------------- Paris time for people


def test_times_are_printed_in_paris_time(renderer: PdfRenderer) -> None:
    """Instants are stored in UTC; the reader sees Paris time. A 16:00 Paris meeting on 3 December 2026 is
    15:00 UTC (winter time); a document written at 17:45 UTC was written at 18:45 in Paris."""
    from datetime import UTC, datetime

    content = replace(frcp(), session_date=datetime(2026, 12, 3, 15, 0, tzinfo=UTC),
                      created_at=datetime(2026, 12, 3, 17, 45, tzinfo=UTC))
    text = " ".join(pdf_text(renderer.render_frcp(content)).split())
    assert "séance du 03/12/2026 à 16:00" in text
    assert "Date de la séance 03/12/2026 à 16:00" in text
    assert "le 03/12/2026 à 18:45" in text  # « Rédigé par … le … »
    assert "15:00" not in text and "17:45" not in text
    summer = replace(frcp(), session_date=datetime(2026, 7, 2, 14, 0, tzinfo=UTC))  # UTC+2 in summer
    assert "séance du 02/07/2026 à 16:00" in " ".join(pdf_text(renderer.render_frcp(summer)).split())


# ---------------------------------------------------------------- what the unsigned document says


@pytest.mark.parametrize("kind, factory", [("frcp", frcp), ("pps", pps)])
def test_the_document_never_states_a_signature_is_applied(renderer: PdfRenderer, kind: str,
                                                          factory: object) -> None:
    """The PDF is rendered before it is signed (the signature is added to these very bytes): its text must
    hold for a draft too, so it names the responsible physician and says an unsigned copy is a draft."""
    text = _normalised_text(renderer.render_html(kind.upper(), factory()))  # type: ignore[operator]
    flat = " ".join(text.split())
    assert "apposée" not in flat and "validé par" not in flat
    assert "Médecin responsable de la validation" in flat
    assert "un exemplaire sans signature électronique n'est qu'un projet non validé" in flat
