"""The outbox sender actor: delivers pending messages (SMTP, or .eml files without a server)."""
from __future__ import annotations

from ..db import session_factory
from ..delivery import deliver
from ..jobs import JobContext, job
from .base import make_actors


class DeliveryFailed(Exception):
    """Some messages were refused for good: the run is failed, with the counts and the replies."""


@job("send_outbox", period="none", family="outbox")
def send_outbox(ctx: JobContext):
    report = deliver(session_factory(), ctx.settings.smtp, ctx.settings.outbox_dir, dry_run=ctx.dry_run)
    ctx.summary.update(sent=report.sent, written=report.written, deferred=report.deferred, failed=report.failed,
                       refusals=report.refusals[:20])
    if report.failed:   # each failed message is alerted by ``deliver`` itself
        raise DeliveryFailed(f"{report.failed} message(s) refused permanently (sent {report.sent}, deferred "
                             f"{report.deferred}): " + "; ".join(report.refusals[:5]))


actors = make_actors("send_outbox")
