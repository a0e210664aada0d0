"""Delivery of the outbox: claimed, sent over SMTP (or written as ``.eml`` files), its outcome recorded.

What a message is and how it enters the outbox is ``worker/mail.py``; this module takes it from
there (the states and the one window of a duplicate are described there).  Each message's whole SMTP
transaction runs under a deadline (``SMTP_DEADLINE``, and never more than half the reclaim window
``RECLAIM_AFTER``): a relay that answers every command slowly, or trickles its replies, is cut off and
the message deferred long before another sender would take the claim for abandoned, so a slow relay
never gets a message twice.  Every ``failed`` message is alerted to the owners (``alerts``).
"""
from __future__ import annotations

import logging
import os
import smtplib
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from .config import Settings
from .mail import Undeliverable, build, smtp_address
from .models import MessageState, OutboxMessage
from .times import now_local

log = logging.getLogger("hotline.alerts")

RECLAIM_AFTER = timedelta(minutes=10)



@dataclass
class DeliveryReport:
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    written: int = 0
    refusals: list[str] = field(default_factory=list)   # "recipient: server reply" of permanent failures


def _due(now: datetime, stale_after: timedelta):
    """Pending and past its backoff, or claimed by a sender that stopped answering long ago."""
    return or_((OutboxMessage.state == MessageState.PENDING.value) & (OutboxMessage.not_before <= now),
               (OutboxMessage.state == MessageState.SENDING.value) & (OutboxMessage.claimed_at < now - stale_after))


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
                        .values(state=MessageState.SENDING.value, claimed_at=now, claimed_by=owner, attempts=OutboxMessage.attempts + 1))
        return row_id if res.rowcount == 1 else None


def _record(session_factory, row_id: int, owner: str, **values) -> bool:
    """The outcome of a send, in a new short transaction, only if ``owner`` still holds the claim."""
    with session_factory() as s, s.begin():
        res = s.execute(update(OutboxMessage).where(OutboxMessage.id == row_id, OutboxMessage.claimed_by == owner,
                                                    OutboxMessage.state == MessageState.SENDING.value).values(**values))
        return res.rowcount == 1


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


def _reply(code: int, text) -> str:
    return f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"


def _preview(session_factory, smtp: dict, folder: Path, limit: int, stale_after: timedelta) -> DeliveryReport:
    """The due messages as .eml files in FOLDER, nothing claimed or changed (``deliver(dry_run=True)``)."""
    report = DeliveryReport()
    folder.mkdir(parents=True, exist_ok=True)
    with session_factory() as session:
        for row in session.scalars(select(OutboxMessage).where(_due(now_local(), stale_after))
                                   .order_by(OutboxMessage.id).limit(limit)):
            try:
                smtp_address(row.recipient_email)
                data = bytes(build(session, row, smtp["sender"], smtp["sender_name"]))
            except Exception as exc:  # noqa: BLE001 — what the send would fail, the preview names
                report.refusals.append(f"{row.recipient_email!r}: cannot be sent: {exc}")
                continue
            write_atomically(eml_path(folder, row.id, row.kind), data)
            report.written += 1
    return report


def _built(session_factory, row_id: int, smtp: dict) -> tuple[str, str, int, EmailMessage | None, bytes, str]:
    """(recipient, kind, attempts, the message or None, its bytes as they go on the wire, why it
    cannot be built) of a claimed row; no transaction is left open across the network."""
    with session_factory() as session:
        row = session.get_one(OutboxMessage, row_id)
        email_to, kind, attempts = row.recipient_email, row.kind, row.attempts
        try:
            smtp_address(email_to)
            msg = build(session, row, smtp["sender"], smtp["sender_name"])
            return email_to, kind, attempts, msg, msg.as_bytes(policy=SMTP_POLICY), ""   # CRLF, as on the wire
        except Exception as exc:  # noqa: BLE001 — this message can never be built: fail it, go on
            return email_to, kind, attempts, None, b"", (f"cannot be sent: {exc}" if isinstance(exc, Undeliverable)
                                                         else f"cannot be built: {type(exc).__name__}: {exc}")
        finally:
            session.rollback()


def deliver(session_factory, smtp: dict, outbox_dir: Path, *, dry_run: bool = False, limit: int = 500,
            stale_after: timedelta = RECLAIM_AFTER, max_attempts: int = 8,
            owner: str | None = None, kinds: tuple[str, ...] | None = None) -> DeliveryReport:
    """Deliver what is due: over SMTP when a host is configured, else as .eml files.

    Each message is claimed, built and committed before any network I/O; sent with connect and
    command timeouts (``SMTP_TIMEOUT``, default 30 s) under a deadline on its whole transaction
    (``transaction_deadline``); and its outcome recorded in a transaction of its own.  A permanent
    refusal (5xx, for the message or its recipient), or a message that cannot be sent at all, fails
    that message only, alerts the owners, and the batch goes on; a temporary one (4xx) defers it
    with a backoff, until ``max_attempts``; a lost, silent or too slow connection, or an ``.eml``
    file that cannot be written, defers the message and ends the batch.  ``dry_run`` writes the
    due messages as .eml files under ``outbox_dir/preview`` and changes nothing."""
    if dry_run:
        return _preview(session_factory, smtp, outbox_dir / "preview", limit, stale_after)
    report = DeliveryReport()
    sender = smtp_address(smtp["sender"])   # one SMTP cannot carry is the configuration's fault: nothing is claimed
    owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    relay = None if not smtp.get("host") else Relay(smtp, transaction_deadline(smtp, stale_after))
    skip: set[int] = set()

    def fail(row_id: int, email_to: str, kind: str, reason: str, reply: str | None = None) -> None:
        if _record(session_factory, row_id, owner, state=MessageState.FAILED.value, server_reply=reply, last_error=reason):
            report.failed += 1
            report.refusals.append(f"{email_to}: {reason}")
            _alert_failed(session_factory, row_id, kind, email_to, reason, refused=reply is not None,
                          sender=smtp["sender"])

    def defer(row_id: int, attempts: int, reason: str, reply: str | None = None) -> None:
        _record(session_factory, row_id, owner, state=MessageState.PENDING.value, server_reply=reply, last_error=reason,
                not_before=now_local() + backoff(attempts))
        report.deferred += 1

    try:
        while report.sent + report.written + report.failed + report.deferred < limit:
            row_id = claim_next(session_factory, owner, stale_after, skip, kinds)
            if row_id is None:
                break
            skip.add(row_id)
            email_to, kind, attempts, msg, data, reason = _built(session_factory, row_id, smtp)
            if msg is None:
                fail(row_id, email_to, kind, reason)
                continue
            if relay is None:
                try:
                    write_atomically(eml_path(outbox_dir, row_id, kind), bytes(msg))   # a file: LF lines
                except OSError as exc:   # a full disk: the message waits, no file under its name
                    defer(row_id, attempts, f"could not write the .eml file to {outbox_dir}: {exc}")
                    break
                _record(session_factory, row_id, owner, state=MessageState.SENT.value, sent_at=now_local(),
                        server_reply=f"written to {outbox_dir}", last_error=None)
                report.written += 1
                continue
            try:
                code, text = relay.send(data, sender, smtp_address(email_to))
            except Undeliverable as exc:
                fail(row_id, email_to, kind, f"cannot be sent: {exc}")
                continue
            if code is None:   # connection lost, silent or too slow: the relay is tried again later
                defer(row_id, attempts, text)
                break
            if code < 400:
                _record(session_factory, row_id, owner, state=MessageState.SENT.value, sent_at=now_local(), server_reply=text,
                        last_error=None)
                report.sent += 1
            elif code >= 500 or attempts >= max_attempts:
                fail(row_id, email_to, kind, text, reply=text)
            else:
                defer(row_id, attempts, text, reply=text)
            rate = float(smtp.get("rate_per_second") or 0)
            if rate > 0:
                time.sleep(1 / rate)
    finally:
        if relay is not None:
            relay.close()
    return report


def write_atomically(path: Path, data: bytes) -> None:
    """Write DATA under a temporary name beside PATH, flushed to disk, then renamed: PATH only ever
    holds a whole file, and a write that fails (a full disk) leaves nothing behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _alert_failed(session_factory, row_id: int, kind: str, email_to: str, reason: str, refused: bool,
                  sender: str) -> None:
    """Tell the owners a message failed.  A failed alert is keyed by its address, not by message, so
    an owner address that cannot receive makes one alert a day, never a chain of them."""
    from .alerts import alert_now

    cause = f"alert_undeliverable:{email_to}" if kind == "alert" else f"message_refused:{row_id}"
    subject = "邮件被邮件服务器永久拒收" if refused else "邮件无法发送（地址或内容有误）"
    alert_now(cause, f"{subject}，已标记为失败", [
        f"邮件 {row_id}（{kind}）收件人 {email_to!r}：{reason}",
        "核实地址（hotline directory / config/alerts.yaml）后可用 hotline outbox retry 重发。"],
        sender=sender, session_factory=session_factory)


def transaction_deadline(smtp: dict, stale_after: timedelta = RECLAIM_AFTER) -> float:
    """Seconds one message's whole SMTP transaction may take: ``SMTP_DEADLINE``, and never more than
    half the reclaim window, so a sender still talking to a slow relay is never taken for dead."""
    return max(1.0, min(float(smtp.get("deadline") or 120), stale_after.total_seconds() / 2))


class Watchdog:
    """A deadline on a whole SMTP transaction.  Socket timeouts bound each read, not a relay that
    trickles its replies; when the time is up this shuts the connection down under the blocked
    read, which then fails at once."""

    def __init__(self):
        self.connection: smtplib.SMTP | None = None
        self.expired = False

    @contextmanager
    def limit(self, seconds: float):
        self.expired = False
        timer = threading.Timer(seconds, self._cut)
        timer.daemon = True
        timer.start()
        try:
            yield self
        finally:
            timer.cancel()

    def _cut(self) -> None:
        self.expired = True
        sock = getattr(self.connection, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Watched(smtplib.SMTP):
    """smtplib's connection, known to its watchdog from the moment it connects (the greeting too)."""
    watchdog: Watchdog

    def connect(self, host="localhost", port=0, source_address=None):
        self.watchdog.connection = self
        return super().connect(host, port, source_address)


class _WatchedSSL(_Watched, smtplib.SMTP_SSL):
    pass


class Relay:
    """The connection to the relay, opened when first needed and again once after it was lost;
    each message sent under the deadline on its whole transaction."""

    def __init__(self, smtp: dict, deadline: float):
        self.smtp, self.deadline, self.watchdog = smtp, deadline, Watchdog()
        self.client: Any = None   # a yagmail connection (``connect``; yagmail has no types), None while closed

    def send(self, data: bytes, sender: str, email_to: str) -> tuple[int | None, str]:
        """(SMTP code, reply) of one message; (None, why) when it was not sent and may be later."""
        with self.watchdog.limit(self.deadline):
            outcome = self._send(data, sender, email_to) if self.client is not None else None
            if outcome is None and not self.watchdog.expired:   # no connection yet, or it was lost
                self.close()
                try:
                    self.client = connect(self.smtp, self.watchdog)
                except (TimeoutError, smtplib.SMTPException, OSError) as exc:
                    self.client = None
                    return None, self._late() or f"SMTP unavailable: {exc}"
                outcome = self._send(data, sender, email_to)
        if outcome is None:
            self.close()
            return None, self._late() or "connection lost while sending"
        return outcome

    def _late(self) -> str | None:
        if self.watchdog.expired:
            return f"the relay did not complete the transaction within {self.deadline:.0f} s (SMTP_DEADLINE)"
        return None

    def _send(self, data: bytes, sender: str, email_to: str) -> tuple[int, str] | None:
        try:
            refused = self.client.smtp.sendmail(sender, [email_to], data)
        except smtplib.SMTPRecipientsRefused as exc:   # every recipient refused: their own codes decide
            code, text = next(iter(exc.recipients.values()))
            return code, _reply(code, text)
        except smtplib.SMTPResponseException as exc:
            return exc.smtp_code, _reply(exc.smtp_code, exc.smtp_error)
        except (smtplib.SMTPException, TimeoutError, OSError):   # lost, silent, cut off, or confused
            return None
        except UnicodeError as exc:   # what the envelope cannot carry; the transaction is left half-done
            self.close()
            raise Undeliverable(f"the relay cannot be given it: {exc}") from None
        if refused:
            code, text = next(iter(refused.values()))
            return code, _reply(code, text)
        return 250, "250 accepted"

    def close(self) -> None:
        if self.client is not None:
            try:
                with self.watchdog.limit(min(5.0, self.deadline)):   # QUIT: a slow relay's reply is not waited for
                    self.client.close()
            except (smtplib.SMTPException, OSError):
                pass
        self.client = None


def connect(smtp: dict, watchdog: Watchdog | None = None):
    """A yagmail connection to any relay: SSL, STARTTLS or plain, with or without login; under
    WATCHDOG's deadline from the first byte when one is given.

    A login without a password is refused here rather than letting yagmail prompt for one."""
    import yagmail

    user, password = smtp.get("user"), smtp.get("password")
    if user and not password:
        raise smtplib.SMTPException("SMTP_USER is set but SMTP_PASSWORD is not (no interactive prompt)")
    security = smtp.get("security", "none")

    class Client(yagmail.SMTP):
        @property
        def connection(self):
            if watchdog is None:
                return super().connection
            return type("Relay", (_WatchedSSL if self.ssl else _Watched,), {"watchdog": watchdog})

    client = Client(user=user or smtp["sender"], password=password, host=smtp["host"], port=smtp["port"],
                    smtp_ssl=security == "ssl", smtp_starttls=security == "starttls",
                    smtp_skip_login=not user, soft_email_validation=False,
                    timeout=float(smtp.get("timeout") or 30))
    client.login()
    return client


def eml_path(folder: Path, row_id: int, kind: str) -> Path:
    """The file a message is written to instead of being sent: its id first, so a folder lists in
    the order the messages were queued."""
    return folder / f"{row_id:06d}-{kind}.eml"


def last_message(session: Session) -> int:
    return session.scalar(select(func.max(OutboxMessage.id))) or 0


def own_messages(run_ids: list[int], after: int):
    """The outbox rows these runs added after message AFTER, by id: what a preview or a replay
    produced — never what other runs left pending in the same database, nor what a run executed
    before (and now re-executed, its messages idempotent) had queued then."""
    return (select(OutboxMessage).where(OutboxMessage.run_id.in_(run_ids), OutboxMessage.id > after)
            .order_by(OutboxMessage.id))


def write_eml(session: Session, folder: Path, sender: str, sender_name: str, run_ids: list[int], after: int) -> int:
    """Write the outbox rows RUN_IDS added after message AFTER as .eml files (what a send would
    deliver of them)."""
    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    for row in session.scalars(own_messages(run_ids, after)):
        eml_path(folder, row.id, row.kind).write_bytes(bytes(build(session, row, sender, sender_name)))
        n += 1
    return n


def deliver_alerts(session_factory, settings: Settings) -> None:
    """Send the pending alerts (the scheduler process's courier thread, with the scheduler's
    SETTINGS: no worker needed).  The outbox's claims keep it from doubling a message the
    ``send_outbox`` job sends meanwhile."""
    try:
        deliver(session_factory, settings.smtp, settings.outbox_dir, kinds=("alert",))
    except Exception:
        log.exception("could not deliver the alerts")
