"""The outbox sender actor: delivers pending messages (SMTP, or .eml files without a server)."""
from __future__ import annotations

from ..db import session_factory
from ..jobs import job
from ..mail import deliver
from .base import make_actors


@job("send_outbox", period="none", family="outbox")
def send_outbox(ctx):
    report = deliver(session_factory(), ctx.settings.smtp, ctx.settings.outbox_dir, dry_run=ctx.dry_run)
    ctx.summary.update(report.__dict__)


actors = make_actors("send_outbox")
