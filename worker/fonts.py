"""CJK fonts for the documents: faces by role, found through fontconfig, reduced once for speed.

The roles (title 小标宋, body 仿宋, level-1 headings 黑体, level-2 headings 楷体, after GB/T 9704)
map to fontconfig families in ``config/documents.yaml`` (``fonts:``), so a district with its own
licensed faces names them there.  WeasyPrint subsets every embedded font at render time; doing
that on a full CJK face (65,000 glyphs) costs seconds per document.  We prepare, once per face, a
reduced face holding GB2312 (the 6,763 common hanzi), ASCII and the punctuation official
documents use, and list the full system face after it in ``font-family``: a rare character still
renders (from the fallback), never as tofu.  A reduced CFF face holds the common characters'
glyphs first (``_common_first``): what each PDF embeds grows with the highest glyph id it uses.

The reduced faces are cached once per machine (``Settings.fonts_dir``: ``HOTLINE_FONTS``, else the
user's cache directory, ``~/.cache/hotline/fonts``), each file named by a key of what it is made
from: the source file (path, size, modification time), the face's own version (``head``), the
fontTools version and the recipe (characters and features).  A font package upgrade or a new
recipe makes a new file; an old file is never overwritten in place.  Several processes may prepare
the same face at once (two cold workers, a test run beside a demo): each writes its own temporary
file and renames it over the target, so a reader sees no file or a whole one, never half of one.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


def role_faces() -> dict[str, tuple[str, str]]:
    """Role (title, body, heading1, heading2) → (fontconfig family, weight), from config/documents.yaml
    ``fonts:``."""
    from .config import policy

    return {role: (face.family, face.weight) for role, face in policy.documents().fonts}


def face_name(family: str, weight: str) -> str:
    """Our @font-face name of a reduced face: one per (family, weight)."""
    return "Hotline-" + "".join(ch for ch in family if ch.isalnum()) + ("-Bold" if weight == "bold" else "")


class FontMissing(Exception):
    pass


@dataclass
class Face:
    family: str          # the @font-face name used in CSS
    fallback: str        # the system family used for characters outside the reduced face
    path: Path           # the reduced file


def find_system_font(family: str, weight: str = "regular") -> tuple[Path, int]:
    """(file, index in collection) of a fontconfig family that really covers Chinese."""
    pattern = f"{family}:style={'Bold' if weight == 'bold' else 'Regular'}:lang=zh-cn"
    try:
        out = subprocess.run(["fc-match", "-f", "%{file}|%{index}|%{family}", pattern],
                             capture_output=True, text=True, timeout=20, check=False).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FontMissing(f"fontconfig (fc-match) is not available: {exc}") from None
    path, _, rest = out.partition("|")
    index, _, found = rest.partition("|")
    if not path or family.lower() not in found.lower():
        raise FontMissing(f"no CJK font '{family}' found: install fonts-noto-cjk (apt-get install fonts-noto-cjk)")
    return Path(path), int(index or 0)


def charset() -> str:
    chars = {chr(c) for c in range(0x20, 0x7F)}
    for hi in range(0xA1, 0xF8):
        for lo in range(0xA1, 0xFF):
            try:
                chars.add(bytes([hi, lo]).decode("gb2312"))
            except UnicodeDecodeError:
                pass
    chars.update(chr(c) for c in range(0x3000, 0x3040))   # CJK punctuation
    chars.update(chr(c) for c in range(0xFF01, 0xFF5F))   # full-width forms
    chars.update("—–‘’“”…·•※№℃％‰←→↑↓≤≥±×÷■□▲△○●◎★☆")
    return "".join(sorted(chars))


LAYOUT_FEATURES = ["kern", "vert", "palt", "halt", "liga"]   # what Chinese text uses
GLYPH_ORDER = "common-first"   # part of the recipe: a new order names new files


def common(ch: str) -> bool:
    """ASCII, punctuation and symbols, and GB2312's level 1 — the 3,755 hanzi the standard ranks as
    in common use — against its level 2 and its kana, Greek, Cyrillic and box drawing."""
    if ord(ch) < 0x80:
        return True
    try:
        lead = ch.encode("gb2312")[0]
    except UnicodeEncodeError:
        return True            # the punctuation we add beyond GB2312 (— … ℃ ‰)
    return lead in (0xA1, 0xA3) or 0xB0 <= lead <= 0xD7


def _common_first(font) -> None:
    """Put the glyphs of common characters (and the layout variants, which have no character) first.

    WeasyPrint subsets each face keeping every glyph id below the highest one used (HarfBuzz's
    ``RETAIN_GIDS``: the page's codes are glyph ids), about 3.5 bytes in the PDF per id.  In Noto's
    order the full-width comma, colon and brackets sit among the last of the 7,800 glyphs, so every
    document carried all of them; with common characters first, a page of common text keeps fewer
    than 4,000.  Outlines, metrics and layout are untouched (tests/test_fonts.py).  CFF faces only:
    a TrueType face's composite glyphs and unnamed glyphs are tied to their ids."""
    from fontTools.ttLib.reorderGlyphs import reorderGlyphs

    if "CFF " not in font:
        return
    order = font.getGlyphOrder()
    chars: dict[str, list[str]] = {}
    for code, name in font.getBestCmap().items():
        chars.setdefault(name, []).append(chr(code))
    first = [name for name in order[1:] if name not in chars or any(map(common, chars[name]))]
    kept = set(first)
    new_order = [order[0], *first, *(name for name in order[1:] if name not in kept)]
    top = font["CFF "].cff.topDictIndex[0]
    selects = getattr(top, "FDSelect", None)
    if selects is not None:
        # Each glyph's font dict, by name, before the ids move: fontTools writes FDSelect as it
        # finds it, so it is put in the new order by hand (every charstring read first, while the
        # old selector still pairs each with its private dict).
        fd_of = {name: selects[gid] for gid, name in enumerate(order)}
        for name in order:
            top.CharStrings[name]
    reorderGlyphs(font, new_order)
    if selects is not None:
        selects.gidArray = [fd_of[name] for name in new_order]


@lru_cache(maxsize=1)
def _recipe() -> str:
    """What a reduced face is made of besides its source: a change here names new files."""
    import fontTools

    return (f"{fontTools.version}|{','.join(LAYOUT_FEATURES)}|{GLYPH_ORDER}|"
            f"{hashlib.sha256(charset().encode()).hexdigest()}")


def target_path(system_family: str, weight: str, cache_dir: Path) -> tuple[Path, int, Path]:
    """(source file, index in its collection, reduced file) of a face: the reduced file's name
    carries the key of its source's version and the recipe."""
    from fontTools.ttLib import TTFont

    source, index = find_system_font(system_family, weight)
    stat = source.stat()
    revision = TTFont(source, fontNumber=index, lazy=True)["head"].fontRevision
    key = hashlib.sha256(f"{source}|{index}|{stat.st_size}|{stat.st_mtime_ns}|{revision:.5f}|{_recipe()}"
                         .encode()).hexdigest()[:16]
    return source, index, cache_dir / f"{face_name(system_family, weight)}-{key}.otf"


def _build(source: Path, index: int, target: Path) -> None:
    from fontTools import subset
    from fontTools.ttLib import TTFont

    target.parent.mkdir(parents=True, exist_ok=True)
    font = TTFont(source, fontNumber=index, lazy=True)
    options = subset.Options()
    options.layout_features = LAYOUT_FEATURES
    options.notdef_outline = True
    options.hinting = False
    options.drop_tables += ["FFTM"]   # FontForge's timestamps: dropped anyway, without a warning
    sub = subset.Subsetter(options)
    sub.populate(text=charset())
    sub.subset(font)
    _common_first(font)
    # A name of this process's own, renamed over the target: concurrent preparers never share a
    # temporary file, and a reader never sees a half-written font.
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            font.save(fh)
        os.chmod(tmp, 0o644)   # a cache built by root (an image's build step) is read by the service's user
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def prepare(cache_dir: Path, progress: Callable[[int, int], None] | None = None) -> dict[str, Face]:
    """Role → reduced face, building the missing ones in parallel (about 25 s each, once per
    machine); ``progress(built, missing)`` is called before the first build and after each."""
    from concurrent.futures import ProcessPoolExecutor, as_completed

    roles = role_faces()
    targets = {spec: target_path(*spec, cache_dir) for spec in sorted(set(roles.values()))}
    missing = [t for t in targets.values() if not t[2].exists()]
    if missing:
        if progress:
            progress(0, len(missing))
        with ProcessPoolExecutor(max_workers=min(4, len(missing))) as pool:
            for n, future in enumerate(as_completed([pool.submit(_build, *t) for t in missing]), 1):
                future.result()
                if progress:
                    progress(n, len(missing))
    return {role: Face(face_name(*spec), spec[0], targets[spec][2]) for role, spec in roles.items()}


def main() -> None:
    """``python -m worker.fonts``: prepare the reduced faces in the machine's cache (``./run test``
    does it before the suite), saying so only when there is something to build."""
    from .config import load_settings

    cache_dir = load_settings().fonts_dir

    def say(built: int, missing: int) -> None:
        if built == 0:
            print(f"== preparing {missing} reduced CJK fonts in {cache_dir} (once per machine, about a minute)",
                  flush=True)

    prepare(cache_dir, say)


if __name__ == "__main__":
    main()
