"""The outbox's commands: list, ``send``, ``retry``, ``hold``, ``release``, ``cancel``."""
from __future__ import annotations

import sys

import click

from .common import current_settings, fail, operator_name


@click.group(invoke_without_command=True)
@click.option("--all", "show_all", is_flag=True, help="every message, sent and cancelled included")
@click.option("--run", "run_id", type=int, help="only the messages of this run")
@click.pass_context
def outbox(ctx: click.Context, show_all: bool, run_id: int | None):
    """List pending, held and failed messages (subcommands: send, retry, hold, release, cancel)."""
    if ctx.invoked_subcommand:
        return
    from sqlalchemy import select

    from ..db import init_db, session_scope
    from ..mail import UNSENT
    from ..models import OutboxMessage

    init_db()
    with session_scope() as s:
        q = select(OutboxMessage).order_by(OutboxMessage.id)
        if not show_all:
            q = q.where(OutboxMessage.state.in_(UNSENT))
        if run_id:
            q = q.where(OutboxMessage.run_id == run_id)
        rows = s.scalars(q).all()
        for r in rows:
            click.echo(f"{r.id:>6} {r.state:<9} attempts={r.attempts} run={r.run_id or '-'} {r.recipient_role:<17} "
                       f"{r.recipient_email:<32} {r.subject[:60]}")
            if r.last_error:
                click.echo(f"         last reply: {r.last_error[:200]}")
            if r.operator:
                click.echo(f"         {r.state} by {r.operator} at {r.operated_at:%Y-%m-%d %H:%M}")
        click.echo(f"{len(rows)} message(s)" + ("" if show_all else " pending, held or failed"))


@outbox.command("send")
@click.option("--dry-run", is_flag=True, help="write the due messages as .eml files under outbox/preview; send nothing")
def outbox_send(dry_run):
    """Deliver what is due now (SMTP if SMTP_HOST is set, else .eml files)."""
    from ..db import init_db, session_factory
    from ..delivery import deliver

    init_db()
    settings = current_settings()
    report = deliver(session_factory(), settings.smtp, settings.outbox_dir, dry_run=dry_run)
    if dry_run:
        click.echo(f"preview: {report.written} message(s) written to {settings.outbox_dir / 'preview'}; nothing sent")
        for r in report.refusals:
            click.echo(f"  would fail: {r}", err=True)
        return
    click.echo(f"sent {report.sent}, written {report.written}, deferred {report.deferred}, failed {report.failed}")
    for r in report.refusals:
        click.echo(f"  refused: {r}", err=True)
    sys.exit(1 if report.failed else 0)


def _change_messages(action: str, ids: tuple[int, ...], run_id: int | None, by: str | None) -> None:
    from sqlalchemy import select

    from ..db import init_db, session_scope
    from ..mail import set_state
    from ..models import OutboxMessage

    if not ids and not run_id:
        fail(f"say which messages to {action}: message ids, or --run RUN", 2)
    init_db()
    with session_scope() as s:
        targets = list(ids)
        if run_id:
            targets += s.scalars(select(OutboxMessage.id).where(OutboxMessage.run_id == run_id)).all()
        changed = set_state(s, targets, action, operator_name(by))
        states = dict(s.execute(select(OutboxMessage.id, OutboxMessage.state)
                                .where(OutboxMessage.id.in_(targets or [0]))).all())
    for mid, old, new in changed:
        click.echo(f"{mid}: {old} → {new}")
    untouched = sorted(set(targets) - {c[0] for c in changed})
    for mid in untouched:
        click.echo(f"{mid}: left {states.get(mid, 'unknown (no such message)')}", err=True)
    done = {"hold": "held", "release": "released", "cancel": "cancelled"}[action]
    click.echo(f"{len(changed)} message(s) {done} by {operator_name(by)}")
    sys.exit(0 if changed or not untouched else 1)


for _action, _help in (("hold", "Hold messages: they are not sent until released."),
                       ("release", "Release held messages: they are sent at the next delivery."),
                       ("cancel", "Cancel messages: they are never sent.")):
    def _command(ids, run_id, by, _action=_action):
        _change_messages(_action, ids, run_id, by)
    _command.__doc__ = _help
    outbox.command(_action)(click.argument("ids", nargs=-1, type=int)(
        click.option("--run", "run_id", type=int, help="every message of this run")(
            click.option("--by", help="who does it (default: $HOTLINE_OPERATOR or the login name)")(_command))))


@outbox.command("retry")
@click.option("--by", help="who does it (default: $HOTLINE_OPERATOR or the login name)")
def outbox_retry(by):
    """Put failed messages back to pending and deliver them."""
    from ..db import init_db, session_factory, session_scope
    from ..delivery import deliver
    from ..mail import retry_failed

    init_db()
    with session_scope() as s:
        n = retry_failed(s, operator_name(by))
    settings = current_settings()
    report = deliver(session_factory(), settings.smtp, settings.outbox_dir)
    click.echo(f"{n} failed message(s) retried: sent {report.sent}, written {report.written}, "
               f"deferred {report.deferred}, failed {report.failed}")


COMMANDS = [outbox]
