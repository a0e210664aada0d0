"""Turning a job's document into outbox messages for its recipients."""
from __future__ import annotations

from collections.abc import Sequence

from .documents import organisation
from .jobs import JobContext
from .mail import Attachment, enqueue
from .recipients import resolve
from .rendering import mask_text, render_html
from .times import chinese_date

# Leaders are greeted by their title (邓建国副区长), everyone else as 同志.
TITLED = {"leader_in_charge", "principal_leader"}


def greeting(person) -> str:
    return f"{person.name}{person.title}" if person.role in TITLED and person.title else f"{person.name}同志"


def notify(ctx: JobContext, *, kind: str, groups: list[str], subject: str, lines: list[str],
           attachments: Sequence[Attachment] = (), unit_code: str | None = None, scope: str = "",
           contact_lines: list[str] | None = None, people: list | None = None) -> int:
    """One message per recipient (deduplicated by address); returns how many were new.  A recipient
    without an address is reported in the run's summary (``missing_recipients``), never skipped silently.

    The sender's name and the signature are the issuing body of ``kind`` (config/documents.yaml).
    ``lines`` pass the masking rule; ``contact_lines`` (the centre's own office and phone, from the
    configuration) are printed as they are."""
    recipients = resolve(ctx.session, groups, unit_code)
    if people is not None:   # named people instead of groups (a leader's own digest)
        recipients.people = []
        for person in people:
            recipients.add(person, person.role)
    if recipients.missing:
        ctx.summary.setdefault("missing_recipients", [])
        for m in recipients.missing:
            if m not in ctx.summary["missing_recipients"]:
                ctx.summary["missing_recipients"].append(m)
    new = 0
    period_key = ctx.run.period_key
    org = organisation(kind)
    # Whatever leaves the centre passes the one masking rule (DOMAIN.md "Confidentiality").
    subject, lines = mask_text(subject), [mask_text(line) for line in lines]
    attachments = [Attachment(mask_text(a.name), a.data) for a in attachments]
    for person in recipients.people:
        context = {"greeting": greeting(person), "lines": lines,
                   "attachments": [a.name for a in attachments], "date": chinese_date(ctx.issue_date),
                   "subject": subject, "issuer": org["signature"], "contact": contact_lines or []}
        assert person.email, "Recipients.add keeps only people with an address"
        key = f"{ctx.speaks_for}|{period_key}|{person.email}|{kind}{':' + scope if scope else ''}"
        new += enqueue(ctx.session, idem_key=key, kind=kind, email=person.email, name=person.name, role=person.role,
                       subject=subject, text=render_html("mail/notice.txt", **context),
                       html=render_html("mail/notice.html", **context), attachments=list(attachments),
                       run_id=ctx.run.id, sender_name=org["sender_name"],
                       sender=ctx.settings.smtp["sender"])
    ctx.summary.setdefault("messages", 0)
    ctx.summary["messages"] += new
    return new
