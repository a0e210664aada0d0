"""E-mail: the outbox, message building, and delivery (SMTP through yagmail, or ``.eml`` files).

Every message is first a row of ``outbox`` written in the same transaction as the run's results,
keyed by ``job|period|recipient|kind``: writing it again is a no-op, so a job re-run sends nothing
new.  The sender claims a row (``pending`` → ``sending``), delivers, and records ``sent`` with the
server's reply, or puts it back to ``pending`` with a backoff on a temporary refusal (4xx,
connection lost), or ``failed`` on a permanent one (5xx).

The one window: a sender killed after the server accepted a message and before ``sent`` was
committed leaves the row ``sending``.  After ``stale_after`` it is sent again **with the same
Message-ID**, so a duplicate is at least recognisable as one (most mail systems and our own
test server collapse it).  We prefer that to losing a notice.  ``hotline outbox`` shows such rows.

States: pending → sending → sent | failed; an operator may put a message on ``held`` (never sent
until released) or ``cancelled`` (never sent), with who and when kept on the row.
"""
from __future__ import annotations

import hashlib
import os
import re
import smtplib
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime
from pathlib import Path

from sqlalchemy import or_, select, update

from .models import Blob, DocumentVersion, MessageDocument, OutboxMessage
from .times import TZ, now_local

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


def clean_header(text: str, limit: int = 200) -> str:
    """One line of header text: control characters (CR/LF included) become spaces."""
    return _CONTROL.sub(" ", str(text)).strip()[:limit]


# What we attach: documents (PDF, and the editable DOCX), and data for other systems (XLSX).
ATTACHMENT_TYPES = {".pdf": "pdf", ".xlsx": "vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    ".docx": "vnd.openxmlformats-officedocument.wordprocessingml.document"}


@dataclass
class Attachment:
    name: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def message_id(idem_key: str, domain: str = "hotline.example.gov.cn") -> str:
    return f"<{hashlib.sha256(idem_key.encode()).hexdigest()[:32]}@{domain}>"


def enqueue(session, *, idem_key: str, kind: str, email: str, name: str, role: str, subject: str,
            text: str, html: str, attachments: list[Attachment] = (), run_id: int | None = None,
            sender_name: str | None = None) -> bool:
    """Add a message unless one with this key exists; returns whether it was new."""
    if session.scalar(select(OutboxMessage.id).where(OutboxMessage.idem_key == idem_key)) is not None:
        return False
    archived = archive_files(session, [a.sha256 for a in attachments])
    for att in attachments:   # a document's bytes are in the archive already: stored once
        if att.sha256 not in archived and session.get(Blob, att.sha256) is None:
            session.add(Blob(sha256=att.sha256, data=att.data))
    now = now_local()
    session.add(OutboxMessage(
        idem_key=idem_key, run_id=run_id, kind=kind, recipient_email=email, recipient_name=clean_header(name, 100),
        recipient_role=role, sender_name=clean_header(sender_name, 100) if sender_name else None,
        subject=clean_header(subject, 300), body_text=text, body_html=html,
        attachments=[{"name": clean_header(a.name, 150), "sha256": a.sha256} for a in attachments],
        message_id=message_id(idem_key), state="pending", attempts=0, created_at=now, not_before=now))
    session.flush()
    _link_documents(session, idem_key, [a.sha256 for a in attachments])
    return True


def archive_files(session, hashes: list[str]) -> dict[str, Path]:
    """Content hash → file of the document archive, for the contents among ``hashes`` that are
    archived: a document version (its PDF), or a rendering stored beside one of these versions under
    the same name (the editable ``.docx`` of a ticket report, ``worker/tasks/tickets.py``)."""
    if not hashes:
        return {}
    found: dict[str, Path] = {}
    for sha, path in session.execute(select(DocumentVersion.sha256, DocumentVersion.path)
                                     .where(DocumentVersion.sha256.in_(hashes))):
        found[sha] = Path(path)
        for suffix in ATTACHMENT_TYPES:
            beside = Path(path).with_suffix(suffix)
            if suffix != Path(path).suffix and beside.is_file():
                found.setdefault(hashlib.sha256(beside.read_bytes()).hexdigest(), beside)
    return {sha: path for sha, path in found.items() if sha in hashes}


class AttachmentMissing(Exception):
    pass


def attachment_data(session, sha256: str, alongside: list[str] = ()) -> bytes:
    """An attachment's bytes: the outbox's own copy (what the archive does not hold: data files),
    else the archive's file (``archive_files``; ``alongside``: the hashes of the message's other
    attachments, whose versions an editable copy sits beside), read back and checked."""
    blob = session.get(Blob, sha256)
    if blob is not None:
        return blob.data
    path = archive_files(session, [sha256, *alongside]).get(sha256)
    try:
        data = path.read_bytes() if path else b""
    except OSError:
        data = b""
    if hashlib.sha256(data).hexdigest() != sha256:
        recorded = list(session.scalars(select(DocumentVersion.path).where(DocumentVersion.sha256 == sha256)))
        raise AttachmentMissing(f"attachment {sha256[:12]}: the archived document "
                                f"{', '.join(recorded) or path or '(none recorded)'} is missing or was changed")
    return data


def _link_documents(session, idem_key: str, hashes: list[str]) -> None:
    """Which stored documents the message carries (``MessageDocument``), by the attachments' hashes."""
    if not hashes:
        return
    message = session.scalar(select(OutboxMessage.id).where(OutboxMessage.idem_key == idem_key))
    documents = set(session.scalars(select(DocumentVersion.document_id).where(DocumentVersion.sha256.in_(hashes))))
    for document_id in sorted(documents):
        session.add(MessageDocument(message_id=message, document_id=document_id))
    session.flush()


def build(session, row: OutboxMessage, sender: str, sender_name: str) -> EmailMessage:
    """The MIME message: RFC 2047 display names and subject, RFC 2231 attachment names.  The
    display name is the issuing body of the message's kind (``sender_name`` only for older rows)."""
    msg = EmailMessage()
    msg["From"] = Address(display_name=clean_header(row.sender_name or sender_name), addr_spec=sender)
    msg["To"] = Address(display_name=clean_header(row.recipient_name), addr_spec=row.recipient_email)
    msg["Subject"] = clean_header(row.subject)
    msg["Message-ID"] = row.message_id
    msg["Date"] = format_datetime(row.created_at.replace(tzinfo=TZ))
    msg.set_content(row.body_text, cte="quoted-printable")  # 7-bit clean for any relay
    msg.add_alternative(row.body_html, subtype="html", cte="quoted-printable")
    hashes = [att["sha256"] for att in row.attachments]
    for att in row.attachments:
        subtype = ATTACHMENT_TYPES.get(Path(att["name"]).suffix.lower(), "octet-stream")
        msg.add_attachment(attachment_data(session, att["sha256"], hashes), maintype="application", subtype=subtype,
                           filename=att["name"])
    return msg


@dataclass
class DeliveryReport:
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    written: int = 0
    refusals: list[str] = field(default_factory=list)   # "recipient: server reply" of permanent failures


def _due(now: datetime, stale_after: timedelta):
    """Pending and past its backoff, or claimed by a sender that stopped answering long ago."""
    return or_((OutboxMessage.state == "pending") & (OutboxMessage.not_before <= now),
               (OutboxMessage.state == "sending") & (OutboxMessage.claimed_at < now - stale_after))


def claim_next(session_factory, owner: str, stale_after: timedelta, skip: set[int],
               kinds: tuple[str, ...] | None = None) -> int | None:
    """Claim one due message for ``owner`` in a short transaction of its own and commit.

    On PostgreSQL the candidate row is locked with ``FOR UPDATE SKIP LOCKED``: a row another live
    sender is claiming is never taken; on SQLite the IMMEDIATE transaction serialises claims.
    The claim carries its own time and owner, so another sender treats it as stale only
    ``stale_after`` after this very claim (SMTP timeouts keep one send far shorter)."""
    with session_factory() as s, s.begin():
        now = now_local()
        q = select(OutboxMessage.id).where(_due(now, stale_after), OutboxMessage.id.not_in(skip or {0}))
        if kinds:
            q = q.where(OutboxMessage.kind.in_(kinds))
        q = q.order_by(OutboxMessage.id).limit(1)
        if s.get_bind().dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        row_id = s.scalar(q)
        if row_id is None:
            return None
        res = s.execute(update(OutboxMessage).where(OutboxMessage.id == row_id, _due(now, stale_after))
                        .values(state="sending", claimed_at=now, claimed_by=owner, attempts=OutboxMessage.attempts + 1))
        return row_id if res.rowcount == 1 else None


def _record(session_factory, row_id: int, owner: str, **values) -> bool:
    """The outcome of a send, in a new short transaction, only if ``owner`` still holds the claim."""
    with session_factory() as s, s.begin():
        res = s.execute(update(OutboxMessage).where(OutboxMessage.id == row_id, OutboxMessage.claimed_by == owner,
                                                    OutboxMessage.state == "sending").values(**values))
        return res.rowcount == 1


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


def _reply(code: int, text) -> str:
    return f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"


def deliver(session_factory, smtp: dict, outbox_dir: Path, *, dry_run: bool = False, limit: int = 500,
            stale_after: timedelta = timedelta(minutes=10), max_attempts: int = 8,
            owner: str | None = None, kinds: tuple[str, ...] | None = None) -> DeliveryReport:
    """Deliver what is due: over SMTP when a host is configured, else as .eml files.

    Each message is claimed, built and committed before any network I/O; sent with connect and
    command timeouts (``SMTP_TIMEOUT``, default 30 s); and its outcome recorded in a transaction
    of its own.  A permanent refusal (5xx, for the message or its recipient) fails that message
    only, and the batch goes on; a temporary one (4xx) defers it with a backoff, until
    ``max_attempts``; a lost or silent connection defers the message and ends the batch.
    ``dry_run`` writes the due messages as .eml files under ``outbox_dir/preview`` and changes
    nothing."""
    report = DeliveryReport()
    if dry_run:
        folder = outbox_dir / "preview"
        folder.mkdir(parents=True, exist_ok=True)
        with session_factory() as session:
            for row in session.scalars(select(OutboxMessage).where(_due(now_local(), stale_after))
                                       .order_by(OutboxMessage.id).limit(limit)):
                (folder / f"{row.id:06d}-{row.kind}.eml").write_bytes(bytes(build(session, row, smtp["sender"],
                                                                                   smtp["sender_name"])))
                report.written += 1
        return report
    owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    to_files = not smtp.get("host")
    client, skip = None, set()
    try:
        while report.sent + report.written + report.failed + report.deferred < limit:
            row_id = claim_next(session_factory, owner, stale_after, skip, kinds)
            if row_id is None:
                break
            skip.add(row_id)
            with session_factory() as session:
                row = session.get(OutboxMessage, row_id)
                msg, email_to, kind, attempts = build(session, row, smtp["sender"], smtp["sender_name"]), \
                    row.recipient_email, row.kind, row.attempts
                session.rollback()   # nothing of the database is held across the network
            if to_files:
                outbox_dir.mkdir(parents=True, exist_ok=True)
                (outbox_dir / f"{row_id:06d}-{kind}.eml").write_bytes(bytes(msg))
                _record(session_factory, row_id, owner, state="sent", sent_at=now_local(),
                        server_reply=f"written to {outbox_dir}")
                report.written += 1
                continue
            outcome = _send(client, smtp, msg, email_to) if client is not None else None
            if outcome is None:   # no connection yet, or it was lost: (re)connect once and try
                if client is not None:
                    client.close()
                try:
                    client = connect(smtp)
                except (TimeoutError, smtplib.SMTPException, OSError) as exc:
                    client = None
                    _record(session_factory, row_id, owner, state="pending", last_error=f"SMTP unavailable: {exc}",
                            not_before=now_local() + backoff(attempts))
                    report.deferred += 1
                    break
                outcome = _send(client, smtp, msg, email_to)
            if outcome is None:
                _record(session_factory, row_id, owner, state="pending", last_error="connection lost while sending",
                        not_before=now_local() + backoff(attempts))
                report.deferred += 1
                break
            code, text = outcome
            if code < 400:
                _record(session_factory, row_id, owner, state="sent", sent_at=now_local(), server_reply=text,
                        last_error=None)
                report.sent += 1
            elif code >= 500 or attempts >= max_attempts:
                _record(session_factory, row_id, owner, state="failed", server_reply=text, last_error=text)
                report.failed += 1
                report.refusals.append(f"{email_to}: {text}")
            else:
                _record(session_factory, row_id, owner, state="pending", server_reply=text, last_error=text,
                        not_before=now_local() + backoff(attempts))
                report.deferred += 1
            rate = float(smtp.get("rate_per_second") or 0)
            if rate > 0:
                time.sleep(1 / rate)
    finally:
        if client is not None:
            client.close()
    return report


def _send(client, smtp: dict, msg: EmailMessage, email_to: str) -> tuple[int, str] | None:
    """(SMTP code, reply) of one message; None when the connection was lost or timed out."""
    try:
        refused = client.smtp.sendmail(smtp["sender"], [email_to], msg.as_bytes(policy=SMTP_POLICY))  # CRLF
    except smtplib.SMTPRecipientsRefused as exc:   # every recipient refused: their own codes decide
        code, text = next(iter(exc.recipients.values()))
        return code, _reply(code, text)
    except smtplib.SMTPServerDisconnected:
        return None
    except smtplib.SMTPResponseException as exc:
        return exc.smtp_code, _reply(exc.smtp_code, exc.smtp_error)
    except (TimeoutError, OSError):
        return None
    if refused:
        code, text = next(iter(refused.values()))
        return code, _reply(code, text)
    return 250, "250 accepted"


def connect(smtp: dict):
    """A yagmail connection to any relay: SSL, STARTTLS or plain, with or without login.

    A login without a password is refused here rather than letting yagmail prompt for one."""
    import yagmail

    user, password = smtp.get("user"), smtp.get("password")
    if user and not password:
        raise smtplib.SMTPException("SMTP_USER is set but SMTP_PASSWORD is not (no interactive prompt)")
    security = smtp.get("security", "none")
    client = yagmail.SMTP(user=user or smtp["sender"], password=password, host=smtp["host"], port=smtp["port"],
                          smtp_ssl=security == "ssl", smtp_starttls=security == "starttls",
                          smtp_skip_login=not user, soft_email_validation=False,
                          timeout=float(smtp.get("timeout") or 30))
    client.login()
    return client


def retry_failed(session, operator: str = "") -> int:
    res = session.execute(update(OutboxMessage).where(OutboxMessage.state == "failed")
                          .values(state="pending", not_before=now_local(), attempts=0, operator=operator or None,
                                  operated_at=now_local()))
    return res.rowcount


HOLDABLE = ("pending", "failed")


def set_state(session, ids: list[int], action: str, operator: str) -> list[tuple[int, str, str]]:
    """Hold, release, retry (a failed one, its attempts counted afresh) or cancel messages; (id, old
    state, new state) of each changed.  A message already sent, or being sent, is not touched; who
    did it and when is recorded on the row."""
    to, allowed = {"hold": ("held", HOLDABLE), "cancel": ("cancelled", (*HOLDABLE, "held")),
                   "release": ("pending", ("held",)), "retry": ("pending", ("failed",))}[action]
    changed = []
    for row in session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids)).order_by(OutboxMessage.id)):
        if row.state in allowed:
            changed.append((row.id, row.state, to))
            row.state, row.operator, row.operated_at = to, operator, now_local()
            if to == "pending":
                row.not_before = now_local()
            if action == "retry":
                row.attempts = 0
    session.flush()
    return changed
