"""Reading the hotline platform's exports (CSV, XLSX, JSONL) into numbered rows: the encoding
detected, the column mapping (``config/import-mapping.yaml``) applied, and every way a file can be
malformed refused with its line before a row reaches the importer (``worker/importer.py``)."""
from __future__ import annotations

import codecs
import csv
import json
import re
import unicodedata
from collections.abc import Iterator, KeysView
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from .config import ConfigError, load_settings


class ImportFileError(Exception):
    """The file as a whole cannot be read (format, encoding, headers); nothing was written."""


def encoding_label(path: Path, codec: str) -> str:
    """The detected encoding as an operator reads it: UTF-8 (with BOM), GB18030 (GBK's superset)."""
    if codec == "utf-8-sig":
        with path.open("rb") as fh:
            return "UTF-8 with BOM" if fh.read(3) == codecs.BOM_UTF8 else "UTF-8"
    return {"gb18030": "GB18030 (GBK)"}.get(codec, codec)


@dataclass
class Mapping:
    columns: dict[str, str]
    values: dict[str, dict]
    max_content_chars: int
    future_tolerance: timedelta
    number_pattern: re.Pattern
    inbox_quiet_seconds: int

    @classmethod
    def load(cls, path: Path | str | None = None) -> Mapping:
        """The mapping file, checked by its schema (``policy_schema.ImportMapping``: each problem on its line)."""
        from .policy_schema import ImportMapping
        from .schema import load_yaml, validate

        path = Path(path) if path else load_settings().config_dir / "import-mapping.yaml"
        spec = validate(ImportMapping, load_yaml(path), path)
        for required in ("number", "kind", "at"):
            if required not in spec.columns:
                raise ConfigError(f"{path}: columns.{required} is missing")
        return cls(columns=spec.columns, values=spec.values, max_content_chars=spec.limits.max_content_chars,
                   future_tolerance=timedelta(minutes=spec.limits.future_tolerance_minutes),
                   number_pattern=re.compile(spec.number_pattern),
                   inbox_quiet_seconds=spec.limits.inbox_quiet_seconds)


# -- reading rows -----------------------------------------------------------------------------
def detect_encoding(path: Path, encoding: str | None) -> str:
    """UTF-8 (with or without BOM) if the whole file decodes as such, else GB18030 (GBK's superset)."""
    candidates = [encoding] if encoding else ["utf-8-sig", "gb18030"]
    for enc in candidates:
        try:
            decoder = codecs.getincrementaldecoder(enc)()
        except LookupError:
            raise ImportFileError(f"{path}: unknown encoding {enc!r}") from None
        try:
            with path.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
            return enc
        except UnicodeDecodeError as exc:
            last = exc
    raise ImportFileError(f"{path}: cannot be decoded as {' or '.join(candidates)} ({last.reason} at byte "
                          f"{last.start}); pass --encoding") from None


# Fields up to 16 MB parse, so an oversized 诉求内容 is refused by its own rule, with its line.
csv.field_size_limit(16 * 1024 * 1024)
MAX_LINE_CHARS = 16 * 1024 * 1024          # a longer physical line is refused unread (memory stays bounded)
MAX_UNPACKED_BYTES = 200 * 1024 * 1024     # a workbook unpacking to more is refused before it is opened
MAX_SHEET_ROWS = 2_000_000
TOO_LONG = "\ufffftoo-long\n"             # what a refused line reads as (a noncharacter: never in data)


class _BoundedLines:
    """The lines of a text file, each read with a length limit: a line longer than
    ``MAX_LINE_CHARS`` is skipped chunk by chunk and stands as ``TOO_LONG``."""

    def __init__(self, fh, limit: int = MAX_LINE_CHARS):
        self.fh, self.limit = fh, limit

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = self.fh.readline(self.limit)
        if not line:
            raise StopIteration
        if len(line) < self.limit or line.endswith("\n"):
            return line
        while (rest := self.fh.readline(self.limit)) and not rest.endswith("\n"):
            pass
        return TOO_LONG


def _check_workbook(path: Path) -> None:
    """Refuse a workbook by its unpacked size and its row count before openpyxl reads it (a zip bomb
    of blank rows or one huge string would otherwise cost minutes and gigabytes)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            unpacked = sum(i.file_size for i in z.infolist())
            if unpacked > MAX_UNPACKED_BYTES:
                raise ImportFileError(f"{path}: the workbook unpacks to {unpacked // 2**20} MB, more than the limit "
                                      f"of {MAX_UNPACKED_BYTES // 2**20} MB; export it as CSV")
            for name in (n for n in z.namelist() if n.startswith("xl/worksheets/") and n.endswith(".xml")):
                with z.open(name) as fh:
                    head = fh.read(4096).decode("utf-8", "replace")
                m = re.search(r'<dimension ref="[A-Z]+\d+:[A-Z]+(\d+)"', head)
                if m and int(m.group(1)) > MAX_SHEET_ROWS:
                    raise ImportFileError(f"{path}: {name} claims {int(m.group(1)):,} rows, more than the limit of "
                                          f"{MAX_SHEET_ROWS:,}")
    except zipfile.BadZipFile as exc:
        raise ImportFileError(f"{path}: not a readable XLSX workbook ({exc})") from None


def read_rows(path: Path, encoding: str | None = None, meta: dict | None = None) -> Iterator[tuple[int, dict]]:
    """(line number, {header: value}) for every data row; ``meta["encoding"]`` gets the encoding read."""
    suffix = path.suffix.lower()
    meta = {} if meta is None else meta
    if not path.exists():
        raise ImportFileError(f"{path}: file not found")
    if suffix == ".csv":
        yield from _csv_rows(path, encoding, meta)
    elif suffix in (".xlsx", ".xlsm"):
        yield from _xlsx_rows(path)
    elif suffix in (".jsonl", ".ndjson"):
        yield from _jsonl_rows(path, encoding, meta)
    else:
        raise ImportFileError(f"{path}: unknown format {suffix or '(no extension)'}; expected .csv, .xlsx or .jsonl")


def _csv_rows(path: Path, encoding: str | None, meta: dict) -> Iterator[tuple[int, dict]]:
    enc = meta["encoding"] = detect_encoding(path, encoding)
    with path.open(encoding=enc, newline="") as fh:
        reader = csv.reader(_BoundedLines(fh))
        try:
            headers = [h.strip() for h in next(reader)]
        except StopIteration:
            raise ImportFileError(f"{path}: the file is empty; nothing to import") from None
        except csv.Error as exc:
            raise ImportFileError(f"{path}:1: {exc}") from None
        if not any(headers):
            if not any(line.strip() for line in _BoundedLines(fh)):
                raise ImportFileError(f"{path}: the file holds only blank lines; nothing to import")
            raise ImportFileError(f"{path}:1: the first line is blank; expected the header row")
        _check_headers(path, headers)
        while True:
            line = reader.line_num + 1   # where the record starts (a quoted field may span lines)
            try:
                values = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                yield line, {"__error__": f"malformed CSV: {exc}"}
                continue
            if values == [TOO_LONG.strip()]:
                yield line, {"__error__": f"the line is longer than {MAX_LINE_CHARS // 2**20} MB; not read"}
                continue
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(headers):
                yield line, {"__error__": f"{len(values)} columns, the header has {len(headers)}"}
                continue
            yield line, dict(zip(headers, values))


def _xlsx_rows(path: Path) -> Iterator[tuple[int, dict]]:
    from openpyxl import load_workbook

    _check_workbook(path)
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 — openpyxl raises many kinds for a damaged workbook
        raise ImportFileError(f"{path}: not a readable XLSX workbook ({type(exc).__name__}: {exc})") from None
    try:
        sheet = wb.active
        if sheet is None:
            raise ImportFileError(f"{path}: the workbook has no worksheet; nothing to import")
        # The sheet's own rows, not its <dimension>: some exporters write "A1" there, and read-only
        # openpyxl would then read one cell of one row (every row lost, exit 0).
        sheet.reset_dimensions()
        rows = sheet.iter_rows(values_only=True)
        headers = [str(h).strip() if h is not None else "" for h in next(rows, [])]
        while headers and not headers[-1]:
            headers.pop()
        if not any(headers):
            raise ImportFileError(f"{path}: the first sheet has no header row; nothing to import")
        _check_headers(path, headers)
        for line, cells in enumerate(rows, 2):
            if line > MAX_SHEET_ROWS:
                raise ImportFileError(f"{path}: the sheet has more than {MAX_SHEET_ROWS:,} rows, the limit; "
                                      "split the export")
            if cells is None or all(v is None or str(v).strip() == "" for v in cells):
                continue
            extra = [v for v in cells[len(headers):] if v is not None and str(v).strip()]
            if extra:
                yield line, {"__error__": f"a value beyond the header's {len(headers)} columns ({extra[0]!r})"}
                continue
            yield line, {h: ("" if v is None else v) for h, v in zip(headers, cells)}
    except ImportFileError:
        raise
    except Exception as exc:  # noqa: BLE001 — damaged sheet XML, truncated archive
        raise ImportFileError(f"{path}: the workbook is truncated or damaged ({type(exc).__name__}: {exc}); "
                              "the rows before the damage were not stored") from None
    finally:
        wb.close()


def _jsonl_rows(path: Path, encoding: str | None, meta: dict) -> Iterator[tuple[int, dict]]:
    enc = meta["encoding"] = detect_encoding(path, encoding)
    checked: KeysView[str] = {}.keys()
    with path.open(encoding=enc) as fh:
        for line, text in enumerate(_BoundedLines(fh), 1):
            if text == TOO_LONG:
                yield line, {"__error__": f"the line is longer than {MAX_LINE_CHARS // 2**20} MB; not read"}
                continue
            if not text.strip():
                continue
            try:
                obj = json.loads(text, parse_constant=_no_constant)
            except (json.JSONDecodeError, ValueError) as exc:
                yield line, {"__error__": f"not valid JSON ({getattr(exc, 'msg', exc)})"}
                continue
            if not isinstance(obj, dict):
                yield line, {"__error__": f"not a JSON object but a {type(obj).__name__}"}
                continue
            if obj.keys() != checked:   # rows of one export share their keys: checked once
                bad = next((k for k in obj if _control(k)), None)
                if bad is not None:
                    yield line, {"__error__": f"the key {bad!r} contains {_control(bad)}; its value would "
                                              "be read as missing"}
                    continue
                checked = obj.keys()
            yield line, obj


def _no_constant(name: str):
    raise ValueError(f"{name} is not a value an export holds")


def _control(name: str) -> str | None:
    """The first control or invisible format character of a name ("the control character U+0000")."""
    for c in name:
        if unicodedata.category(c) in ("Cc", "Cf"):
            return f"the control character U+{ord(c):04X}"
    return None


def _check_headers(path: Path, headers: list[str]) -> None:
    """Refuse a header the mapping could not match as written: a NUL or other control character inside
    a name would leave its column unread (诉求内容 stored empty), a repeated name ambiguous."""
    seen = set()
    for i, h in enumerate(headers, 1):
        if _control(h):
            raise ImportFileError(f"{path}:1: the header of column {i}, {h!r}, contains {_control(h)}; the "
                                  f"column would not be read. Correct the header and import the file again")
        if h and h in seen:
            raise ImportFileError(f"{path}:1: the column {h!r} appears twice in the header; which one holds the "
                                  "data is unclear")
        seen.add(h)
