"""Text for a terminal: columns aligned by display width.  A CJK character takes two columns, so
Python's ``{:<16}`` (which counts characters) misaligns every table holding unit names; wcwidth
knows each character's width."""
from __future__ import annotations

from collections.abc import Sequence

from wcwidth import wcswidth


def width(text: str) -> int:
    """Terminal columns of ``text`` (its length where wcwidth cannot tell, e.g. a control character)."""
    w = wcswidth(text)
    return w if w >= 0 else len(text)


def pad(value: object, columns: int, align: str = "<") -> str:
    """``value`` as text filled to ``columns`` terminal columns, left (``<``) or right (``>``) aligned."""
    text = str(value)
    fill = " " * max(columns - width(text), 0)
    return fill + text if align == ">" else text + fill


def table(rows: Sequence[Sequence[object]], aligns: str, minimum: Sequence[int] = ()) -> list[str]:
    """Lines of ``rows`` in columns one space apart, each as wide as its widest cell (at least
    ``minimum``), aligned per ``aligns`` (one ``<`` or ``>`` a column); trailing blanks trimmed."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([width(row[i]) for row in cells] + [minimum[i] if i < len(minimum) else 0])
              for i in range(len(aligns))]
    return [" ".join(pad(c, widths[i], aligns[i]) for i, c in enumerate(row)).rstrip() for row in cells]
