"""Closing out a supervision entry on line (seed 004: 挂牌督办、销号管理).

The unit named in a 督办函 answers, per ticket, what was done (with an attachment if it has one);
the centre accepts the answer (销号) or returns it with a reason, and the unit answers again.
Each step is a row of ``supervision_steps`` with who and when, never changed afterwards, so the
ledger, the console and the weekly bulletin read the state at their own moment
(``worker.supervision``).  Who may take which step is the caller's check (the console: the unit's
liaison or head answers, the centre decides); this module keeps the order of steps.

Attachments are kept under ``$HOTLINE_VAR/supervision`` by their SHA-256 (the same file answered
twice is kept once); the row keeps the name the unit gave it.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePath

from sqlalchemy.orm import Session

from .config import policy
from .models import SupervisionStep
from .policy_schema import SupervisionAnswers
from .supervision import Entry


class CloseoutRefused(ValueError):
    """A step that cannot be taken now, with the words to show."""


@dataclass
class Upload:
    name: str
    data: bytes


def rules() -> SupervisionAnswers:
    """config/metrics.yaml ``supervision.answers`` (its defaults when the file has none)."""
    return policy.metrics().supervision.answers


def file_path(var_dir: Path, sha256: str) -> Path:
    """Where an attachment of that content is kept under VAR_DIR (``Settings.var_dir``, the caller's)."""
    return var_dir / "supervision" / sha256


def answer(session: Session, entry: Entry, *, by_email: str, by_name: str, text: str, upload: Upload | None,
           at: datetime, var_dir: Path) -> SupervisionStep:
    """The unit's answer: allowed while nothing is answered or after a return; its attachment
    kept under VAR_DIR."""
    if entry.answer not in ("none", "returned"):
        raise CloseoutRefused("该督办事项已销号，无需再答复。" if entry.answer == "accepted" else
                              "该督办事项已答复，正等待热线中心审核销号。")
    limits = rules()
    text = (text or "").strip()
    if not text:
        raise CloseoutRefused("请填写整改落实情况。")
    if len(text) > limits.max_chars:
        raise CloseoutRefused(f"整改落实情况不超过 {limits.max_chars} 字（现 {len(text)} 字）。")
    name = sha = size = None
    if upload is not None and upload.name:
        name, sha, size = _keep(upload, limits, var_dir)
    return _step(session, entry, "answer", by_email, by_name, text, at, name, sha, size)


def decide(session: Session, entry: Entry, *, accept: bool, by_email: str, by_name: str, reason: str,
           at: datetime) -> SupervisionStep:
    """The centre's 销号 (``accept``) or return with a reason: allowed on an answer awaiting it."""
    if entry.answer != "answered":
        raise CloseoutRefused({"none": "该督办事项尚未答复，不能销号或退回。", "accepted": "该督办事项已销号。",
                               "returned": "该答复已退回，等待承办单位重新答复。"}[entry.answer])
    reason = (reason or "").strip()
    if not accept and not reason:
        raise CloseoutRefused("退回须写明理由。")
    if len(reason) > rules().max_chars:
        raise CloseoutRefused(f"意见不超过 {rules().max_chars} 字。")
    return _step(session, entry, "accept" if accept else "return", by_email, by_name,
                 reason or "同意销号", at)


def _step(session: Session, entry: Entry, action: str, by_email: str, by_name: str, text: str, at: datetime,
          name=None, sha=None, size=None) -> SupervisionStep:
    if entry.steps and at < entry.steps[-1].at:
        raise CloseoutRefused("不能早于上一步办理时间。")
    step = SupervisionStep(ticket_id=entry.ticket_id, stage=entry.stage, unit_code=entry.unit_code, action=action,
                           at=at, by_email=by_email, by_name=by_name[:100], text=text, file_name=name,
                           file_sha256=sha, file_size=size)
    session.add(step)
    session.flush()
    entry.steps.append(step)
    return step


def _keep(upload: Upload, limits: SupervisionAnswers, var_dir: Path) -> tuple[str, str, int]:
    """Check the attachment's kind and size, write it (atomically, once per content); its name
    (the base name the unit gave, nothing of a path), hash and size."""
    name = PurePath(upload.name.replace("\\", "/")).name.strip()[:200]
    kind = name.rpartition(".")[2].lower() if "." in name else ""
    if kind not in limits.file_types:
        raise CloseoutRefused(f"附件只能是 {'、'.join(limits.file_types)} 文件。")
    if not upload.data:
        raise CloseoutRefused("附件是空文件。")
    if len(upload.data) > limits.file_max_mb * 1024 * 1024:
        raise CloseoutRefused(f"附件不超过 {limits.file_max_mb} MB。")
    sha = hashlib.sha256(upload.data).hexdigest()
    path = file_path(var_dir, sha)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{sha}.{os.getpid()}.tmp")
        tmp.write_bytes(upload.data)
        tmp.replace(path)
    return name, sha, len(upload.data)
