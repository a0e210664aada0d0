"""CJK fonts for the documents: found through fontconfig, reduced once for speed.

WeasyPrint subsets every embedded font at render time; doing that on the full Noto CJK face
(65,000 glyphs) costs seconds per document.  We prepare, once, a reduced face holding GB2312
(the 6,763 common hanzi), ASCII and the punctuation official documents use, and list the full
system face after it in ``font-family``: a rare character still renders (from the fallback),
never as tofu.  The reduced faces are cached under ``var/fonts`` keyed by the source file.
"""
from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path

FACES = {  # our family name → (fontconfig family, weight)
    "HotlineSerif": ("Noto Serif CJK SC", "regular"),
    "HotlineSerifBold": ("Noto Serif CJK SC", "bold"),
}


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


def reduced_face(family: str, cache_dir: Path) -> Face:
    from fontTools import subset
    from fontTools.ttLib import TTFont

    system_family, weight = FACES[family]
    source, index = find_system_font(system_family, weight)
    stat = source.stat()
    key = hashlib.sha256(f"{source}|{index}|{stat.st_size}|{stat.st_mtime_ns}|v2".encode()).hexdigest()[:16]
    target = cache_dir / f"{family}-{key}.otf"
    if not target.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        font = TTFont(source, fontNumber=index, lazy=True)
        options = subset.Options()
        options.layout_features = ["kern", "vert", "palt", "halt", "liga"]  # what Chinese text uses
        options.notdef_outline = True
        options.hinting = False
        sub = subset.Subsetter(options)
        sub.populate(text=charset())
        sub.subset(font)
        tmp = target.with_suffix(".tmp")
        font.save(tmp)
        tmp.replace(target)  # atomic: a concurrent worker never reads half a font
    return Face(family, system_family, target)


def _reduce(args: tuple[str, Path]) -> Face:
    return reduced_face(*args)


def prepare(cache_dir: Path) -> list[Face]:
    """All reduced faces, building the missing ones in parallel (about 25 s each, once)."""
    from concurrent.futures import ProcessPoolExecutor

    missing = [f for f in FACES if not any(cache_dir.glob(f"{f}-*.otf"))]
    if len(missing) > 1:
        with ProcessPoolExecutor(max_workers=len(missing)) as pool:
            list(pool.map(_reduce, [(f, cache_dir) for f in missing]))
    return [reduced_face(f, cache_dir) for f in FACES]
