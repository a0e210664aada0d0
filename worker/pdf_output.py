"""What writing a PDF costs WeasyPrint, cut where it repeats the same work for every document.

Both matter most for the one-page supervision letter, the commonest document, where this fixed
cost is most of the work; the pages stay the same pixel for pixel (``bench/`` prints the ratio):

- **Font subsetting from a prepared face.**  WeasyPrint subsets each embedded face twice per
  document (HarfBuzz's ``hb_subset_or_fail``: once keeping the glyph ids, once more to drop the
  empty glyphs after the last one used), and each call rebuilds HarfBuzz's tables of the whole
  face, even our reduced ones, for every document.  HarfBuzz's own answer for
  a face subset again and again is ``hb_subset_preprocess``: done once per face per process, then
  one pass keeps the ids and drops the trailing glyphs (``RETAIN_GIDS`` stops at the last glyph
  kept) at a fraction of the cost.  Same flags and dropped tables as WeasyPrint's.
- **Streams compressed at zlib's default level.**  pydyf compresses every stream at level 9; on
  our PDFs (subset CFF fonts, page content, already dense) level 6 gives the same size for less
  time: level 9 searches harder for matches these streams do not have.

Both replace a WeasyPrint or pydyf internal: ``install()`` checks that the hook is there and
otherwise leaves the library as it is, with a warning (the same documents, only slower).  The
versions are pinned in requirements.lock, and tests/test_documents.py renders every document
with and without these changes and compares the pages.
"""
from __future__ import annotations

import logging
import zlib
from functools import lru_cache

log = logging.getLogger("hotline.rendering")
COMPRESSION_LEVEL = 6
# The tables WeasyPrint drops when it subsets (glyph positioning and bitmaps a PDF does not use).
DROPPED_TABLES = (b"BASE", b"DSIG", b"EBDT", b"EBLC", b"EBSC", b"GPOS", b"GSUB", b"JSTF", b"LTSH", b"PCLT", b"SVG ")


class _DefaultLevelZlib:
    """pydyf's view of zlib: every compression at ``COMPRESSION_LEVEL``, whatever level it asks."""

    def __getattr__(self, name):
        return getattr(zlib, name)

    @staticmethod
    def compressobj(level=COMPRESSION_LEVEL, *args, **kwargs):
        return zlib.compressobj(COMPRESSION_LEVEL, *args, **kwargs)

    @staticmethod
    def compress(data, level=COMPRESSION_LEVEL):
        return zlib.compress(data, COMPRESSION_LEVEL)


class PreparedSubsetter:
    """``Font._harfbuzz_subset`` in one pass over a face preprocessed once per process."""

    def __init__(self, ffi, harfbuzz, harfbuzz_subset, preprocess, face_data, replaced):
        self.ffi, self.hb, self.hs, self.preprocess, self.face_data = ffi, harfbuzz, harfbuzz_subset, preprocess, face_data
        self.replaced = replaced   # WeasyPrint's own method, for the tests' comparison
        # the source face's address → (the source, held; its preprocessed face)
        self.prepared: dict[int, tuple[object, object]] = {}
        self.dropped = sorted(harfbuzz.hb_tag_from_string(tag, -1) for tag in DROPPED_TABLES)

    def face(self, source):
        """The preprocessed face of ``source``.  The source is held for as long as its preparation is
        kept: once a FontConfiguration is gone (a new stylesheet), another face could be allocated at
        its address and be subset from this one's preparation — wrong glyphs in the PDF."""
        key = int(self.ffi.cast("uintptr_t", source))
        if key not in self.prepared:
            self.prepared[key] = (self.hb.hb_face_reference(source), self.preprocess(source))
        return self.prepared[key][1]

    def __call__(self, font, to_unicode, hinting):
        ffi, hb, hs = self.ffi, self.hb, self.hs
        subset_input = ffi.gc(hs.hb_subset_input_create_or_fail(), hs.hb_subset_input_destroy)
        glyphs = sorted(to_unicode)
        hb.hb_set_add_sorted_array(hs.hb_subset_input_glyph_set(subset_input),
                                   ffi.new(f"hb_codepoint_t[{len(glyphs)}]", glyphs), len(glyphs))
        hb.hb_set_add_sorted_array(hs.hb_subset_input_set(subset_input, hs.HB_SUBSET_SETS_DROP_TABLE_TAG),
                                   ffi.new(f"hb_codepoint_t[{len(self.dropped)}]", self.dropped), len(self.dropped))
        flags = (hs.HB_SUBSET_FLAGS_RETAIN_GIDS | hs.HB_SUBSET_FLAGS_PASSTHROUGH_UNRECOGNIZED
                 | hs.HB_SUBSET_FLAGS_DESUBROUTINIZE)
        if not hinting:
            flags |= hs.HB_SUBSET_FLAGS_NO_HINTING
        if font.missing:
            flags |= hs.HB_SUBSET_FLAGS_NOTDEF_OUTLINE
        hs.hb_subset_input_set_flags(subset_input, flags)
        subset = ffi.gc(hs.hb_subset_or_fail(self.face(font.hb_face), subset_input), hb.hb_face_destroy)
        content = self.face_data(subset) if subset else None
        if content:
            font.file_content = content
        else:   # as WeasyPrint does: the whole face goes in, the document is still right
            log.warning('Unable to subset "%s" with HarfBuzz', font.family)


LIBRARY_NAMES = ("libharfbuzz-subset-0", "harfbuzz-subset", "harfbuzz-subset-0.0", "libharfbuzz-subset.so.0",
                 "libharfbuzz-subset.0.dylib", "libharfbuzz-subset-0.dll")   # as WeasyPrint looks for it


@lru_cache(maxsize=1)
def install() -> PreparedSubsetter | None:
    """Put both changes in place, once per process; the subsetter in use, or None (and a warning)
    where WeasyPrint offers no hook for it."""
    import pydyf
    import weasyprint.pdf.fonts as pdf_fonts
    from weasyprint.text.ffi import ffi, harfbuzz
    from weasyprint.text.fonts import get_hb_object_data

    if getattr(pydyf, "zlib", None) is zlib:
        pydyf.zlib = _DefaultLevelZlib()
    else:
        log.warning("pydyf %s does not compress through its zlib module: its level stays",
                    getattr(pydyf, "__version__", "?"))
    subset_lib = pdf_fonts.harfbuzz_subset
    if subset_lib is None or not hasattr(pdf_fonts.Font, "_harfbuzz_subset"):
        log.warning("WeasyPrint has no HarfBuzz subsetting hook here: fonts are subset its own way")
        return None
    try:
        ffi.cdef("hb_face_t * hb_subset_preprocess (hb_face_t *source);", override=True)
        preprocess = _open(ffi).hb_subset_preprocess
    except Exception as exc:  # noqa: BLE001 — cffi raises its own kinds (CDefError, OSError…)
        log.warning("hb_subset_preprocess is not available (%s): fonts are subset WeasyPrint's way", exc)
        return None
    subsetter = PreparedSubsetter(ffi, harfbuzz, subset_lib, preprocess, get_hb_object_data,
                                  pdf_fonts.Font._harfbuzz_subset)
    pdf_fonts.Font._harfbuzz_subset = lambda font, to_unicode, hinting: subsetter(font, to_unicode, hinting)
    return subsetter


def _open(ffi):
    for name in LIBRARY_NAMES:
        try:
            return ffi.dlopen(name)
        except OSError:
            continue
    raise OSError(f"none of {', '.join(LIBRARY_NAMES)} loads")
