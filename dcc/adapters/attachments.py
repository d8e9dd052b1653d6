"""Checks and cleaning of a file attached to a case (PDF or JPEG), by content, never by name.

- type from the magic bytes: `%PDF-` or JPEG SOI (FF D8 FF); anything else is refused;
- PDF: opened with pikepdf; refused when encrypted, or when any object carries JavaScript, an embedded or
  attached file, a launch action or rich media (the national record and the meeting screens must show a
  plain document);
- JPEG: decoded and re-encoded by Pillow without its metadata (EXIF with GPS position, comments, XMP).
Every refusal is a ValidationFailed with a French message; nothing is written by this module.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dcc.errors import ValidationFailed

PDF_MAGIC = b"%PDF-"
JPEG_MAGIC = b"\xff\xd8\xff"
FORBIDDEN_PDF_KEYS = {"/JavaScript": "du JavaScript", "/JS": "du JavaScript", "/EmbeddedFiles": "des fichiers "
                      "incorporés", "/EmbeddedFile": "des fichiers incorporés", "/Launch": "une action de "
                      "lancement de programme", "/RichMedia": "un contenu multimédia actif",
                      "/FileAttachment": "une pièce jointe incorporée"}
MAX_PIXELS = 80_000_000


@dataclass(frozen=True)
class CleanFile:
    media_type: str  # application/pdf | image/jpeg
    data: bytes
    cleaned: bool  # True when the stored bytes differ from the uploaded ones (JPEG metadata removed)


def _refuse(message: str) -> ValidationFailed:
    return ValidationFailed(message, field="file")


def _direct_nodes(obj: Any) -> Iterator[Any]:
    """An indirect object and the dictionaries and arrays written inside it (not those it refers to: they
    are indirect objects of their own, visited from `pdf.objects`)."""
    import pikepdf

    stack = [obj]
    while stack:
        node = stack.pop()
        if isinstance(node, pikepdf.Dictionary | pikepdf.Stream):
            yield node
            stack.extend(v for k, v in node.items() if isinstance(v, pikepdf.Dictionary | pikepdf.Array)
                         and not v.is_indirect)
        elif isinstance(node, pikepdf.Array):
            stack.extend(v for v in node if isinstance(v, pikepdf.Dictionary | pikepdf.Array) and not v.is_indirect)


def _active_content(node: Any) -> str | None:
    keys = {str(k) for k in node.keys()}
    for attr in ("/S", "/Subtype"):
        value = node.get(attr)
        if value is not None and str(value) in FORBIDDEN_PDF_KEYS:
            keys.add(str(value))
    found = sorted({FORBIDDEN_PDF_KEYS[k] for k in keys if k in FORBIDDEN_PDF_KEYS})
    return found[0] if found else None


def check_pdf(data: bytes) -> CleanFile:
    import pikepdf

    try:
        pdf = pikepdf.open(io.BytesIO(data))
    except pikepdf.PasswordError:
        raise _refuse("Le PDF est protégé par un mot de passe : joignez une version non chiffrée.") from None
    except pikepdf.PdfError:
        raise _refuse("Le fichier commence comme un PDF mais ne peut pas être lu (PDF endommagé).") from None
    with pdf:
        if pdf.is_encrypted:
            raise _refuse("Le PDF est chiffré : joignez une version non chiffrée.")
        for obj in pdf.objects:
            for node in _direct_nodes(obj):
                found = _active_content(node)
                if found:
                    raise _refuse(f"Le PDF contient {found} : ce contenu actif n'est pas accepté. "
                                  "Imprimez-le en PDF simple avant de le joindre.")
    return CleanFile("application/pdf", data, False)


def clean_jpeg(data: bytes) -> CleanFile:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format != "JPEG":
                raise _refuse("Le fichier n'est pas une image JPEG valide.")
            if img.width * img.height > MAX_PIXELS:
                raise _refuse("L'image est trop grande (80 mégapixels au plus).")
            img.load()
            out = io.BytesIO()
            rgb = img if img.mode in ("RGB", "L", "CMYK") else img.convert("RGB")
            rgb.save(out, format="JPEG", quality=92, optimize=True)  # no exif=, no comment: metadata dropped
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise _refuse("Le fichier commence comme une image JPEG mais ne peut pas être décodé.") from None
    return CleanFile("image/jpeg", out.getvalue(), True)


def check_file(data: bytes, *, max_bytes: int) -> CleanFile:
    """The file to store, or a French refusal."""
    if not data:
        raise _refuse("Le fichier est vide.")
    if len(data) > max_bytes:
        raise _refuse(f"Le fichier dépasse la taille maximale ({max_bytes // (1024 * 1024)} Mo).")
    if data.startswith(PDF_MAGIC):
        return check_pdf(data)
    if data.startswith(JPEG_MAGIC):
        return clean_jpeg(data)
    raise _refuse("Seuls les fichiers PDF et JPEG sont acceptés (type reconnu par le contenu du fichier, "
                  "pas par son nom).")
