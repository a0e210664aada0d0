"""Logs of the long-running processes (``hotline scheduler``, ``hotline worker``): one format per
process, chosen by ``HOTLINE_LOG_FORMAT`` — ``json`` (one object per line, with the run id when
there is one, for a collector) or ``text`` (the default, for a person).  The handler sits on the root
logger, so Dramatiq's own lines come out in the same format; WeasyPrint's per-render chatter is
kept to warnings.  The interactive commands keep plain text.
"""
from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
               "level": record.levelname.lower(), "logger": record.name, "pid": record.process,
               "msg": record.getMessage()}
        run_id = getattr(record, "run_id", None)
        if run_id is not None:
            out["run_id"] = run_id
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self):
        super().__init__("%(asctime)s %(levelname)-7s %(name)s [%(process)d] %(message)s%(run)s")

    def format(self, record: logging.LogRecord) -> str:
        run_id = getattr(record, "run_id", None)
        record.run = f" (run {run_id})" if run_id is not None and f"run {run_id}" not in record.getMessage() else ""
        return super().format(record)


def log_format() -> str:
    fmt = os.environ.get("HOTLINE_LOG_FORMAT", "text").lower()
    return fmt if fmt in ("json", "text") else "text"


def setup(level: int = logging.INFO, fmt: str | None = None) -> None:
    """One handler on the root logger, in the process's format; our loggers and Dramatiq's use it."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if (fmt or log_format()) == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("hotline").propagate = True
    logging.getLogger("weasyprint").setLevel(logging.WARNING)
    logging.getLogger("fontTools").setLevel(logging.WARNING)


def setup_from_env() -> None:
    """In a worker process (set by ``hotline worker``): take over Dramatiq's logging setup."""
    logging.getLogger("weasyprint").setLevel(logging.WARNING)
    if os.environ.get("HOTLINE_WORKER_LOGS") == "1":
        setup()
