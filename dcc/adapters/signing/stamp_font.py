"""The font of the visible signature stamp, with its embedded subsets cached across signatures.

pyHanko's `GlyphAccumulator` subsets the stamp font and compiles the subset at every signature (fontTools
`subset` + `TTFont.save`): a third of the signing time. The stamp's glyphs depend on little more than the
signer's name, the reason and the place (the date and time only use digits, which every subset includes),
so a batch signed by one physician needs a single subset: this factory keeps the compiled and compressed
font programs in a small LRU cache keyed by the set of glyphs.

The embedded font is still a subset holding only the glyphs the stamp uses (plus the digits and date
punctuation): PDF/A requires embedded fonts and the documents stay small.
"""

from __future__ import annotations

import io
import threading
import zlib
from collections import OrderedDict
from pathlib import Path
from typing import Any

import uharfbuzz as hb
from fontTools import subset as ft_subset
from fontTools import ttLib
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font.api import FontEngine, FontEngineFactory
from pyhanko.pdf_utils.font.opentype import CIDFontType2, GlyphAccumulator, _read_ps_name
from pyhanko.pdf_utils.generic import pdf_name

# Always in the subset, so that the date and time of the stamp do not change the cache key.
ALWAYS_INCLUDED = "0123456789/:àh "
CACHE_SIZE = 64


class _FontProgramCache:
    """Compressed TrueType programs keyed by the glyph ids they keep (thread-safe LRU)."""

    def __init__(self, font_bytes: bytes, size: int = CACHE_SIZE) -> None:
        self._font_bytes = font_bytes
        self._size = size
        self._lock = threading.Lock()
        self._programs: OrderedDict[frozenset[int], bytes] = OrderedDict()
        self.misses = 0

    def program(self, gids: frozenset[int]) -> bytes:
        with self._lock:
            found = self._programs.get(gids)
            if found is not None:
                self._programs.move_to_end(gids)
                return found
        compressed = zlib.compress(self._subset(gids))
        with self._lock:
            self.misses += 1
            self._programs[gids] = compressed
            while len(self._programs) > self._size:
                self._programs.popitem(last=False)
        return compressed

    def _subset(self, gids: frozenset[int]) -> bytes:
        # pyHanko's own subsetting options (glyph ids retained: the content stream uses raw glyph ids with
        # CIDToGIDMap /Identity; no layout tables), and neither hinting nor the MATH table.
        options = ft_subset.Options(layout_closure=False)
        options.drop_tables += ["GPOS", "GDEF", "GSUB", "MATH"]
        options.hinting = False  # an 8-point stamp in a PDF viewer: the hinting programs are dead weight
        options.retain_gids = True
        tt = ttLib.TTFont(io.BytesIO(self._font_bytes))
        subsetter = ft_subset.Subsetter(options=options)
        subsetter.populate(gids=sorted(gids))
        subsetter.subset(tt)
        out = io.BytesIO()
        tt.save(out)
        return out.getvalue()


class _CachedCIDFontType2(CIDFontType2):
    """A TrueType CIDFont whose font program comes from the cache instead of `TTFont.save`."""

    font_program: bytes = b""  # compressed (FlateDecode)

    def set_font_file(self, writer: Any) -> generic.IndirectObject:
        stream = generic.StreamObject({pdf_name("/Filter"): pdf_name("/FlateDecode")},
                                      encoded_data=self.font_program)
        ref = writer.add_object(stream)
        self._font_descriptor[pdf_name("/FontFile2")] = ref
        return ref


class _SharedFont:
    """The parsed stamp font, shared read-only by every signature (parsed once, fully decompiled)."""

    def __init__(self, font_bytes: bytes) -> None:
        self.tt = ttLib.TTFont(io.BytesIO(font_bytes))
        self.tt.ensureDecompiled()
        if "CFF " in self.tt:
            raise ValueError("the stamp font must be a TrueType (glyf) font")
        self.hb_font = hb.Font(hb.Face(font_bytes))
        self.ps_name = _read_ps_name(self.tt)
        self.units_per_em = self.tt["head"].unitsPerEm
        cmap = self.tt.getBestCmap()
        self.always_gids = frozenset(self.tt.getGlyphID(cmap[ord(ch)]) for ch in ALWAYS_INCLUDED
                                     if ord(ch) in cmap)


class _CachedGlyphAccumulator(GlyphAccumulator):
    """pyHanko's GlyphAccumulator over the shared parsed font, embedding a cached subset.

    The constructor mirrors `GlyphAccumulator.__init__` (pyHanko 0.38) minus the font parsing; the font is
    never subset in place (pyHanko's subsetting is destructive), so sharing it is safe.
    """

    def __init__(self, writer: Any, *, font: _SharedFont, programs: _FontProgramCache, font_size: int,
                 obj_stream: Any = None) -> None:
        self.hb_font = font.hb_font
        self.tt = font.tt
        FontEngine.__init__(self, writer, font.ps_name, embedded_subset=True, obj_stream=obj_stream,
                            font_size=font_size)
        self._font_ref = writer.allocate_placeholder()
        self.cff_charset = None
        self.use_raw_gids = True
        self.cidfont_obj = _CachedCIDFontType2(font.tt, font.ps_name, self.subset_prefix)
        self.features = None
        self.units_per_em = font.units_per_em
        self._glyphs: dict[int, tuple[int, int]] = {}
        self._glyph_set = font.tt.getGlyphSet(preferCFF=True)
        self._cid_to_unicode: dict[int, str] = {}
        self._GlyphAccumulator__reverse_cmap = None
        self.ot_language_tag = None
        self.ot_script_tag = None
        self.writing_direction = None
        self.bcp47_lang_code = None
        self._subset_created = self._write_prepared = False
        self._font = font
        self._programs = programs

    def _extract_subset(self, options: Any = None) -> None:
        gids = frozenset(self._glyphs) | self._font.always_gids
        assert isinstance(self.cidfont_obj, _CachedCIDFontType2)
        self.cidfont_obj.font_program = self._programs.program(gids)


class StampFontFactory(FontEngineFactory):
    """Font engine factory for the stamp font, sharing one subset cache across signatures."""

    def __init__(self, font_file: Path, font_size: int = 8) -> None:
        self.font_size = font_size
        font_bytes = Path(font_file).read_bytes()
        self._font = _SharedFont(font_bytes)
        self.programs = _FontProgramCache(font_bytes)

    def create_font_engine(self, writer: Any, obj_stream: Any = None) -> GlyphAccumulator:
        if obj_stream is None and writer.stream_xrefs:
            obj_stream = writer.prepare_object_stream()
        return _CachedGlyphAccumulator(writer, font=self._font, programs=self.programs,
                                       font_size=self.font_size, obj_stream=obj_stream)


__all__ = ["StampFontFactory"]
