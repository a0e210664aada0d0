"""Structured logs: one JSON object per line, carrying the run id when there is one.

Used by the long-running processes (``hotline scheduler``, ``hotline worker``), whose logs go to
a collector; the interactive commands keep plain text.
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


def setup(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("hotline")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


def setup_from_env() -> None:
    # WeasyPrint logs every rendering step at INFO: noise in a worker's log.
    logging.getLogger("weasyprint").setLevel(logging.WARNING)
    if os.environ.get("HOTLINE_JSON_LOGS") == "1":
        setup()
