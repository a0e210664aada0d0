"""The reduced CJK faces: prepared once per machine, in the user's cache, by any number of processes
at once (issue 32: two cold workers shared one temporary file name and crashed)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import FONTS
from worker.config import PROJECT_ROOT, load_settings

# A process preparing the faces, starting when the file argv[1] appears; its renames are slow (a
# busy disk), so processes finishing seconds apart still overlap between writing and renaming.
PREPARE = """
import os, sys, time
from pathlib import Path
rename = os.replace
def slow_rename(*args, **kwargs):
    time.sleep(3)
    return rename(*args, **kwargs)
os.replace = slow_rename
start = Path(sys.argv[1])
while not start.exists():
    time.sleep(0.01)
from worker.fonts import prepare
faces = prepare(Path(sys.argv[2]))
print(faces["body"].path)
"""


def one_face_config(folder: Path) -> Path:
    """The project's configuration with every role on the one face (AR PL UKai CN): one build."""
    shutil.copytree(PROJECT_ROOT / "config", folder)
    text = (folder / "documents.yaml").read_text(encoding="utf-8")
    for role in ("title", "body", "heading1", "heading2"):
        text = text.replace(next(line for line in text.splitlines() if line.startswith(f"  {role}:")),
                            f"  {role}: {{family: AR PL UKai CN, weight: regular}}")
    (folder / "documents.yaml").write_text(text, encoding="utf-8")
    return folder


def test_two_cold_processes_preparing_the_same_face_at_once_both_get_the_whole_font(tmp_path):
    from fontTools.ttLib import TTFont

    cache, start = tmp_path / "fonts", tmp_path / "start"
    env = {**os.environ, "HOTLINE_CONFIG": str(one_face_config(tmp_path / "config"))}
    procs = [subprocess.Popen([sys.executable, "-c", PREPARE, str(start), str(cache)], cwd=PROJECT_ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    time.sleep(1)          # every process waiting at the line, its imports done
    start.touch()
    results = [(p.wait(timeout=600), p.stdout.read(), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert [rc for rc, _, _ in results] == [0, 0], [err[-2000:] for _, _, err in results]
    paths = {out.strip() for _, out, _ in results}
    assert len(paths) == 1
    built = Path(paths.pop())
    assert built.parent == cache and built.name.startswith("Hotline-ARPLUKaiCN-")
    assert sorted(p.name for p in cache.iterdir()) == [built.name]     # no temporary file left behind
    assert oct(built.stat().st_mode & 0o777) == "0o644"                 # readable by a service's own user
    font = TTFont(built)
    cmap = font.getBestCmap()
    assert all(ord(ch) in cmap for ch in "关于督办工单的通知１２３４５，。")   # GB2312 hanzi, full-width forms
    assert ord("𠀀") not in cmap                                         # reduced: outside GB2312


def test_the_cache_is_the_users_and_named_by_the_sources_version(tmp_path, monkeypatch):
    from worker import fonts

    monkeypatch.delenv("HOTLINE_FONTS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert load_settings().fonts_dir == tmp_path / "cache" / "hotline" / "fonts"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert load_settings().fonts_dir == tmp_path / "home" / ".cache" / "hotline" / "fonts"
    monkeypatch.setenv("HOTLINE_FONTS", str(tmp_path / "shared"))   # a prepared folder of one's own (the image's)
    assert load_settings().fonts_dir == tmp_path / "shared"

    # The name follows the source: another file (a font package upgrade) is another reduced face,
    # built beside the old one; the same file keeps its name.
    source, index, target = fonts.target_path("AR PL UKai CN", "regular", tmp_path)
    assert fonts.target_path("AR PL UKai CN", "regular", tmp_path)[2] == target
    copy = tmp_path / "ukai.ttc"
    shutil.copy2(source, copy)
    monkeypatch.setattr(fonts, "find_system_font", lambda family, weight: (copy, index))
    assert fonts.target_path("AR PL UKai CN", "regular", tmp_path)[2] != target


def test_a_reduced_face_draws_every_character_as_its_source_with_common_characters_first():
    """The reduced body face (Noto Serif CJK SC) against the system face it is cut from: the same
    outline and advance for ASCII, the punctuation of official documents and a sample of hanzi of
    both GB2312 levels; and every common character (ASCII, punctuation, level 1) before every
    level-2 hanzi, so that a page of common text keeps few glyph ids in its PDF subset."""
    from fontTools.pens.recordingPen import RecordingPen
    from fontTools.ttLib import TTFont

    from worker.fonts import find_system_font, prepare

    faces = prepare(FONTS)
    reduced = TTFont(faces["body"].path)
    source_path, index = find_system_font("Noto Serif CJK SC")
    source = TTFont(source_path, fontNumber=index, lazy=True)
    level1, level2 = "啊座政府办公室督办热线", "亍齄鬯彳"      # GB2312 16-01, 55-xx; 56-01 onwards
    sample = "Aj09，。：；（）“”《》、—…" + level1 + level2
    cmap_r, cmap_s = reduced.getBestCmap(), source.getBestCmap()
    glyphs_r, glyphs_s = reduced.getGlyphSet(), source.getGlyphSet()
    for ch in sample:
        drawn_r, drawn_s = RecordingPen(), RecordingPen()
        glyphs_r[cmap_r[ord(ch)]].draw(drawn_r)
        glyphs_s[cmap_s[ord(ch)]].draw(drawn_s)
        assert drawn_r.value == drawn_s.value, ch
        assert reduced["hmtx"][cmap_r[ord(ch)]][0] == source["hmtx"][cmap_s[ord(ch)]][0], ch
    gid = {name: i for i, name in enumerate(reduced.getGlyphOrder())}
    common = [gid[cmap_r[ord(ch)]] for ch in "Aj09，。：；（）“”《》、—…" + level1]
    assert max(common) < min(gid[cmap_r[ord(ch)]] for ch in level2)
