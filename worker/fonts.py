"""CJK fonts for the documents: faces by role, found through fontconfig, reduced once for speed.

The roles (title 小标宋, body 仿宋, level-1 headings 黑体, level-2 headings 楷体, after GB/T 9704)
map to fontconfig families in ``config/documents.yaml`` (``fonts:``), so a district with its own
licensed faces names them there.  WeasyPrint subsets every embedded font at render time; doing
that on a full CJK face (65,000 glyphs) costs seconds per document.  We prepare, once per face, a
reduced face holding GB2312 (the 6,763 common hanzi), ASCII and the punctuation official
documents use, and list the full system face after it in ``font-family``: a rare character still
renders (from the fallback), never as tofu.  The reduced faces are cached under ``var/fonts``
keyed by the source file.
"""
from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROLES = ("title", "body", "heading1", "heading2")
DEFAULT_ROLES = {"title": ("Noto Serif CJK SC", "bold"), "body": ("Noto Serif CJK SC", "regular"),
                 "heading1": ("Noto Sans CJK SC", "bold"), "heading2": ("AR PL UKai CN", "regular")}


def role_faces() -> dict[str, tuple[str, str]]:
    """Role → (fontconfig family, weight), from config/documents.yaml ``fonts:``."""
    from .config import ConfigError, load_settings, policy

    configured = policy("documents").get("fonts") or {}
    out = {}
    for role in ROLES:
        spec = configured.get(role) or {}
        family, weight = spec.get("family", DEFAULT_ROLES[role][0]), spec.get("weight", DEFAULT_ROLES[role][1])
        if weight not in ("regular", "bold"):
            raise ConfigError(f"{load_settings().config_dir / 'documents.yaml'}: fonts.{role}.weight: "
                              f"expected regular or bold, got {weight!r}")
        out[role] = (str(family), weight)
    return out


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


def reduced_face(system_family: str, weight: str, cache_dir: Path) -> Face:
    from fontTools import subset
    from fontTools.ttLib import TTFont

    family = face_name(system_family, weight)
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


def _reduce(args: tuple[str, str, Path]) -> Face:
    return reduced_face(*args)


def prepare(cache_dir: Path) -> dict[str, Face]:
    """Role → reduced face, building the missing ones in parallel (about 25 s each, once)."""
    from concurrent.futures import ProcessPoolExecutor

    roles = role_faces()
    faces = sorted(set(roles.values()))
    missing = [f for f in faces if not any(cache_dir.glob(f"{face_name(*f)}-*.otf"))]
    if len(missing) > 1:
        with ProcessPoolExecutor(max_workers=min(4, len(missing))) as pool:
            list(pool.map(_reduce, [(*f, cache_dir) for f in missing]))
    built = {f: reduced_face(*f, cache_dir) for f in faces}
    return {role: built[spec] for role, spec in roles.items()}
