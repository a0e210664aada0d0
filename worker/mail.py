"""E-mail: the outbox and its messages (delivery: ``worker/delivery.py``).

Every message is first a row of ``outbox`` written in the same transaction as the run's results,
keyed by ``job|period|recipient|kind``: writing it again is a no-op, so a job re-run sends nothing
new.  The sender claims a row (``pending`` → ``sending``), delivers, and records ``sent`` with the
server's reply, or puts it back to ``pending`` with a backoff on a temporary refusal (4xx,
connection lost, the relay too slow, a disk that cannot take the ``.eml`` file), or ``failed`` on a
permanent one (5xx) and when the message cannot be sent at all (an address SMTP cannot carry, a
message that cannot be built).  Every ``failed`` message is alerted to the owners (``alerts``).

The one window: a sender killed after the server accepted a message and before ``sent`` was
committed leaves the row ``sending``.  After ``RECLAIM_AFTER`` it is sent again **with the same
Message-ID**, so a duplicate is at least recognisable as one (most mail systems and our own
test server collapse it).  We prefer that to losing a notice.  ``hotline outbox`` shows such rows.

States: pending → sending → sent | failed; an operator may put a message on ``held`` (never sent
until released) or ``cancelled`` (never sent), with who and when kept on the row.
"""
from __future__ import annotations

import hashlib
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .addresses import AddressError, validate_address
from .db import rowcount
from .models import Blob, DocumentVersion, MessageDocument, MessageState, OutboxMessage
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


# A claim older than this is taken for abandoned (its sender killed) and the message sent again.

class Undeliverable(ValueError):
    """The message cannot be sent as it is (its address, its content): it is failed, never retried."""




def smtp_address(address: str) -> str:
    """ADDRESS as an SMTP envelope can carry it without SMTPUTF8 (``addresses.validate_address``: one
    plain ``local@domain``, an internationalised domain in its ASCII form), or ``Undeliverable`` with
    the reason: the outbox's own check of the rule the places addresses enter already apply."""
    try:
        return validate_address(address)
    except AddressError as exc:
        raise Undeliverable(str(exc)) from None


def _on_the_wire(address: str) -> str:
    """The address as it travels (IDNA domain) when SMTP can carry it; as stored otherwise (a
    preview shows it; ``deliver`` fails such a message before building it)."""
    try:
        return smtp_address(address)
    except Undeliverable:
        return address


def sender_domain(sender: str) -> str:
    """The domain of ``SMTP_FROM``, for our Message-IDs (ASCII, as it would travel)."""
    try:
        return smtp_address(sender).split("@")[1]
    except Undeliverable:
        return socket.getfqdn() or "localhost"


def message_id(idem_key: str, domain: str) -> str:
    return f"<{hashlib.sha256(idem_key.encode()).hexdigest()[:32]}@{domain}>"


def enqueue(session: Session, *, idem_key: str, kind: str, email: str, name: str, role: str, subject: str,
            text: str, html: str, attachments: Sequence[Attachment] = (), run_id: int | None = None,
            sender_name: str | None = None, sender: str) -> bool:
    """Add a message unless one with this key exists; returns whether it was new.  SENDER is the
    caller's ``Settings.smtp["sender"]``, whose domain the Message-ID carries."""
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
        message_id=message_id(idem_key, sender_domain(sender)), state=MessageState.PENDING.value, attempts=0,
        created_at=now, not_before=now))
    session.flush()
    _link_documents(session, idem_key, [a.sha256 for a in attachments])
    return True


def archive_files(session: Session, hashes: list[str]) -> dict[str, Path]:
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


def attachment_data(session: Session, sha256: str, alongside: Sequence[str] = ()) -> bytes:
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


def _link_documents(session: Session, idem_key: str, hashes: list[str]) -> None:
    """Which stored documents the message carries (``MessageDocument``), by the attachments' hashes."""
    if not hashes:
        return
    message = session.scalar(select(OutboxMessage.id).where(OutboxMessage.idem_key == idem_key))
    documents = set(session.scalars(select(DocumentVersion.document_id).where(DocumentVersion.sha256.in_(hashes))))
    for document_id in sorted(documents):
        session.add(MessageDocument(message_id=message, document_id=document_id))
    session.flush()


def build(session: Session, row: OutboxMessage, sender: str, sender_name: str) -> EmailMessage:
    """The MIME message: RFC 2047 display names and subject, RFC 2231 attachment names.  The
    display name is the issuing body of the message's kind (``sender_name`` only for older rows)."""
    msg = EmailMessage()
    msg["From"] = Address(display_name=clean_header(row.sender_name or sender_name), addr_spec=_on_the_wire(sender))
    msg["To"] = Address(display_name=clean_header(row.recipient_name), addr_spec=_on_the_wire(row.recipient_email))
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



def retry_failed(session: Session, operator: str = "") -> int:
    res = session.execute(update(OutboxMessage).where(OutboxMessage.state == MessageState.FAILED.value)
                          .values(state=MessageState.PENDING.value, not_before=now_local(), attempts=0, operator=operator or None,
                                  operated_at=now_local()))
    return rowcount(res)


HOLDABLE = (MessageState.PENDING.value, MessageState.FAILED.value)
# Neither sent nor cancelled: what an operator may have to act on (``hotline outbox``, the console).
UNSENT = (MessageState.FAILED.value, MessageState.HELD.value, MessageState.PENDING.value, MessageState.SENDING.value)


def set_state(session: Session, ids: list[int], action: str, operator: str) -> list[tuple[int, str, str]]:
    """Hold, release, retry (a failed one, its attempts counted afresh) or cancel messages; (id, old
    state, new state) of each changed.  A message already sent, or being sent, is not touched; who
    did it and when is recorded on the row."""
    pending, held = MessageState.PENDING.value, MessageState.HELD.value
    to, allowed = {"hold": (held, HOLDABLE), "cancel": (MessageState.CANCELLED.value, (*HOLDABLE, held)),
                   "release": (pending, (held,)), "retry": (pending, (MessageState.FAILED.value,))}[action]
    changed = []
    for row in session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids)).order_by(OutboxMessage.id)):
        if row.state in allowed:
            changed.append((row.id, row.state, to))
            row.state, row.operator, row.operated_at = to, operator, now_local()
            if to == pending:
                row.not_before = now_local()
            if action == "retry":
                row.attempts = 0
    session.flush()
    return changed
