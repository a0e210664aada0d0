"""Alerts to the owners (运维告警): failures nobody would otherwise notice, by e-mail.

Owners come from ``config/alerts.yaml`` (a default list and per-job owners).  Each alert is an
outbox message of kind ``alert``, keyed by its cause and day: the same cause alerts once a day,
whatever the number of ticks or retries that meet it.  Causes:
- a run failed, timed out or was given up (``run_failed``);
- a message refused for good by the relay, or that cannot be sent at all (``message_refused``;
  ``alert_undeliverable`` when the failed message was itself an alert, once a day per address);
- an invalid edit of ``schedules.yaml`` or ``calendar.yaml``, a schedule that faults, the clock
  stepped, replicas running different schedules (``config``, ``clock_step``, ``schedules_version``);
- the calendar lacks a year within ``calendar_days`` (``calendar``);
- a queued run no worker took for ``queued_minutes`` (``no_worker``);
- the oldest message waiting longer than ``outbox_backlog_minutes`` (``outbox_backlog``).
An alert is only ever *enqueued* — an outbox row of its own, written in a transaction of its own
(``alert_now``) when it reports a failure, so it survives the rollback of the work that failed.
It is sent like any other message: by the ``send_outbox`` job, and by the scheduler process's
courier thread (``delivery.deliver_alerts``), so a dead worker pool is reported by e-mail too — never inside
the scheduler's tick, which a slow relay would stall.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .addresses import AddressError, validate_address
from .config import ConfigError, load_settings, policy, read_yaml
from .mail import enqueue
from .models import MessageState, OutboxMessage, Run, RunState
from .policy_schema import Alerts
from .times import now_local

log = logging.getLogger("hotline.alerts")


def settings(config_dir: Path | None = None) -> Alerts:
    """``config/alerts.yaml`` as its model, the last valid version while an edit is invalid.  With
    no valid version at hand (an address that is not one from the start, say), the file's other
    addresses and values: an alert still reaches whoever it can."""
    try:
        return policy.alerts(config_dir)
    except ConfigError:
        pass
    try:
        data = read_yaml((config_dir or load_settings().config_dir) / "alerts.yaml")
    except ConfigError:
        return Alerts()
    data["default"] = _deliverable(data.get("default"))
    data["owners"] = {job: _deliverable(found) for job, found in (data.get("owners") or {}).items()}
    try:
        return Alerts.model_validate(data)
    except ValidationError:
        return Alerts(default=data["default"], owners=data["owners"])


def _deliverable(addresses) -> list[str]:
    """The addresses that are one, as ``validate_address`` stores them.  One that is not (张三@…, a
    comma list, a line break) is left out and logged: ``hotline doctor`` and the scheduler's policy
    check name it by line."""
    out = []
    for address in addresses if isinstance(addresses, list) else []:
        try:
            out.append(validate_address(address))
        except AddressError as exc:
            log.error("config/alerts.yaml: %s; left out of the alert's recipients", exc)
    return out


def owners(job: str | None = None) -> list[str]:
    """Who is told: the default owners and the job's."""
    cfg = settings()
    out: list[str] = []
    for address in cfg.default + (cfg.owners.get(job, []) if job else []):
        if address not in out:
            out.append(address)
    return out


def alert(session: Session, cause: str, subject: str, lines: list[str], job: str | None = None,
          now: datetime | None = None, *, sender: str) -> int:
    """Queue one alert e-mail per owner for ``cause`` today, from SENDER (``Settings.smtp["sender"]``);
    returns how many were new."""
    from .rendering import render_html

    now = now or now_local()
    new = 0
    context = {"greeting": "运维值班同志", "lines": lines, "attachments": [], "date": f"{now:%Y-%m-%d %H:%M}",
               "subject": subject, "issuer": "12345热线报表与通知服务", "contact": []}
    text, html = render_html("mail/notice.txt", **context), render_html("mail/notice.html", **context)
    for address in owners(job):
        new += enqueue(session, idem_key=f"alert|{cause}|{now.date()}|{address}", kind="alert", email=address,
                       name="运维值班", role="operations", subject=f"【告警】{subject}", text=text, html=html,
                       sender_name="12345热线报表与通知服务", sender=sender)
    if new:
        log.warning("alert %s: %s", cause, subject)
    return new


def alert_now(cause: str, subject: str, lines: list[str], job: str | None = None, *, sender: str,
              session_factory=None, now: datetime | None = None) -> bool:
    """``alert`` in a transaction of its own (from a failure path, whatever becomes of the failing
    work's own transaction); never raises.  Whether it was written."""
    from .db import session_factory as default_factory

    try:
        with (session_factory or default_factory())() as s:
            alert(s, cause, subject, lines, job, now=now, sender=sender)
            s.commit()
        return True
    except Exception:
        log.exception("could not queue the alert %s", cause)
        return False


def watch(session: Session, now: datetime, calendar=None, *, sender: str) -> list[str]:
    """The checks that need no event: queued runs nobody takes, an outbox backlog, a calendar gap,
    alerted from SENDER.  Returns the causes alerted (new or already alerted today)."""
    cfg = settings()
    causes = []
    queued = now - timedelta(minutes=cfg.queued_minutes)
    stuck = session.execute(select(func.count(), func.min(Run.created_at)).where(
        Run.state == RunState.QUEUED.value, Run.created_at < queued)).one()
    if stuck[0]:
        causes.append("no_worker")
        alert(session, "no_worker", f"{stuck[0]} 个任务排队超过 {cfg.queued_minutes} 分钟无人执行",
              [f"最早的一个自 {stuck[1]:%Y-%m-%d %H:%M} 起排队。请检查 worker 进程（hotline doctor）。"], now=now, sender=sender)
    backlog = now - timedelta(minutes=cfg.outbox_backlog_minutes)
    waiting = session.execute(select(func.count(), func.min(OutboxMessage.created_at)).where(
        OutboxMessage.state.in_((MessageState.PENDING.value, MessageState.SENDING.value)), OutboxMessage.kind != "alert",
        OutboxMessage.created_at < backlog)).one()
    if waiting[0]:
        causes.append("outbox_backlog")
        alert(session, "outbox_backlog", f"{waiting[0]} 封邮件等待发送超过 {cfg.outbox_backlog_minutes} 分钟",
              [f"最早的一封自 {waiting[1]:%Y-%m-%d %H:%M} 起等待。请检查邮件服务器（hotline outbox, hotline doctor）。"],
              now=now, sender=sender)
    if calendar is not None:
        days = cfg.calendar_days
        for year in calendar.missing_years(now, days):
            causes.append(f"calendar:{year}")
            alert(session, f"calendar:{year}", f"工作日历缺少{year}年节假日安排",
                  [(f"{days}天内将用到{year}年的工作日历。请在 {calendar.calendar_file} 的 years: 下补充国务院办公厅"
                   f"{year}年节假日安排，然后运行 hotline recompute。")], now=now, sender=sender)
    return causes
