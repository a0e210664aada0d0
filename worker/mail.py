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
"""
from __future__ import annotations

import hashlib
import re
import smtplib
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime
from pathlib import Path

from sqlalchemy import or_, select, update

from .models import Blob, OutboxMessage
from .times import TZ, now_local

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


def clean_header(text: str, limit: int = 200) -> str:
    """One line of header text: control characters (CR/LF included) become spaces."""
    return _CONTROL.sub(" ", str(text)).strip()[:limit]


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
    for att in attachments:
        if session.get(Blob, att.sha256) is None:
            session.add(Blob(sha256=att.sha256, data=att.data))
    now = now_local()
    session.add(OutboxMessage(
        idem_key=idem_key, run_id=run_id, kind=kind, recipient_email=email, recipient_name=clean_header(name, 100),
        recipient_role=role, sender_name=clean_header(sender_name, 100) if sender_name else None,
        subject=clean_header(subject, 300), body_text=text, body_html=html,
        attachments=[{"name": clean_header(a.name, 150), "sha256": a.sha256} for a in attachments],
        message_id=message_id(idem_key), state="pending", attempts=0, created_at=now, not_before=now))
    session.flush()
    return True


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
    for att in row.attachments:
        blob = session.get(Blob, att["sha256"])
        msg.add_attachment(blob.data, maintype="application", subtype="pdf", filename=att["name"])
    return msg


@dataclass
class DeliveryReport:
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    written: int = 0


def _due_rows(session, now: datetime, stale_after: timedelta, limit: int):
    stale = now - stale_after
    return session.scalars(
        select(OutboxMessage).where(or_(
            (OutboxMessage.state == "pending") & (OutboxMessage.not_before <= now),
            (OutboxMessage.state == "sending") & (OutboxMessage.claimed_at < stale)))
        .order_by(OutboxMessage.id).limit(limit)).all()


def _claim(session, row_id: int, now: datetime, stale_after: timedelta) -> bool:
    res = session.execute(
        update(OutboxMessage).where(OutboxMessage.id == row_id, or_(
            (OutboxMessage.state == "pending"),
            (OutboxMessage.state == "sending") & (OutboxMessage.claimed_at < now - stale_after)))
        .values(state="sending", claimed_at=now, attempts=OutboxMessage.attempts + 1))
    session.commit()
    return res.rowcount == 1


def _finish(session, row_id: int, **values) -> None:
    session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id).values(**values))
    session.commit()


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


def deliver(session_factory, smtp: dict, outbox_dir: Path, *, dry_run: bool = False, limit: int = 500,
            stale_after: timedelta = timedelta(minutes=10), max_attempts: int = 8) -> DeliveryReport:
    """Deliver what is due: over SMTP when a host is configured, else (or with dry_run) as .eml files."""
    report = DeliveryReport()
    to_files = dry_run or not smtp.get("host")
    with session_factory() as session:
        now = now_local()
        rows = _due_rows(session, now, stale_after, limit)
        if not rows:
            return report
        if to_files:
            # Files are idempotent (one name per row), so no per-message claim is needed: write them
            # all, then mark them in one statement.
            outbox_dir.mkdir(parents=True, exist_ok=True)
            for row in rows:
                msg = build(session, row, smtp["sender"], smtp["sender_name"])
                (outbox_dir / f"{row.id:06d}-{row.kind}.eml").write_bytes(bytes(msg))
            session.execute(update(OutboxMessage).where(OutboxMessage.id.in_([r.id for r in rows])).values(
                state="sent", sent_at=now_local(), attempts=OutboxMessage.attempts + 1,
                server_reply=f"written to {outbox_dir}"))
            session.commit()
            report.written = len(rows)
            return report
        client = None
        try:
            client = connect(smtp)
            for row in rows:
                if not _claim(session, row.id, now, stale_after):
                    continue
                msg = build(session, row, smtp["sender"], smtp["sender_name"])
                try:
                    refused = client.smtp.sendmail(smtp["sender"], [row.recipient_email],
                                                   msg.as_bytes(policy=SMTP_POLICY))  # CRLF line ends
                    reply = "250 accepted" if not refused else f"refused: {refused}"
                    _finish(session, row.id, state="sent" if not refused else "failed", sent_at=now_local(),
                            server_reply=reply, last_error=None if not refused else reply)
                    report.sent += 1
                except smtplib.SMTPResponseException as exc:
                    text = f"{exc.smtp_code} {exc.smtp_error.decode(errors='replace') if isinstance(exc.smtp_error, bytes) else exc.smtp_error}"
                    permanent = 500 <= exc.smtp_code < 600 or row.attempts >= max_attempts
                    _finish(session, row.id, state="failed" if permanent else "pending", last_error=text,
                            server_reply=text, not_before=now_local() + backoff(row.attempts))
                    report.failed += permanent
                    report.deferred += not permanent
                    if isinstance(exc, smtplib.SMTPServerDisconnected):
                        break
                except (smtplib.SMTPServerDisconnected, OSError) as exc:
                    _finish(session, row.id, state="pending", last_error=f"connection lost: {exc}",
                            not_before=now_local() + backoff(row.attempts))
                    report.deferred += 1
                    break
                rate = float(smtp.get("rate_per_second") or 0)
                if rate > 0:
                    time.sleep(1 / rate)
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            # No connection at all: nothing was claimed for sending, the rows stay pending.
            session.rollback()
            report.deferred += len(rows)
            for row in rows:
                if row.state == "pending":
                    _finish(session, row.id, last_error=f"SMTP unavailable: {exc}")
        finally:
            if client is not None:
                client.close()
    return report


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
                          smtp_skip_login=not user, soft_email_validation=False)
    client.login()
    return client


def retry_failed(session) -> int:
    res = session.execute(update(OutboxMessage).where(OutboxMessage.state == "failed")
                          .values(state="pending", not_before=now_local(), attempts=0))
    return res.rowcount
