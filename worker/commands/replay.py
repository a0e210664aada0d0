"""Replaying the schedules: ``demo`` (a synthetic district) and ``replay`` (the real data)."""
from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path

import click

from ..config import ConfigError
from ..demo import EML_CHOICES
from .common import current_settings, fail, load_schedules


@click.command()
@click.option("--out", "out", type=click.Path(file_okay=False),
              help="the demo's folder (default: $HOTLINE_VAR/demo when HOTLINE_VAR is set, else ./out)")
@click.option("--weeks", default=8, show_default=True, help="weeks of schedules to replay")
@click.option("--until", "until", default="2026-11-16", show_default=True,
              help="replay up to this date (the default span crosses 国庆 2026)")
@click.option("--per-day", default=35, show_default=True, help="tickets received per day")
@click.option("--seed", default=12345, show_default=True)
@click.option("--eml", type=click.Choice(EML_CHOICES), default="sample", show_default=True,
              help="messages written as .eml files: the first of each kind, every one (about 150 KB each), or none; "
                   "the others stay queued in the demo's outbox")
def demo(out, weeks, until, per_day, seed, eml):
    """Build the synthetic district and replay the shipped schedules over it (SQLite, inline, .eml)."""
    from .. import demo as the_demo

    try:
        folder = Path(out).resolve() if out else the_demo.default_folder()
    except ConfigError as exc:
        fail(str(exc), 2)
    options = the_demo.Options(out_dir=folder, weeks=weeks,
                               until=date.fromisoformat(until), per_day=per_day, seed=seed, eml=eml)
    sys.exit(the_demo.run(options))


@click.command()
@click.option("--from", "start", required=True, help="first day of the span")
@click.option("--to", "end", required=True, help="last day of the span")
@click.option("--out", "out", default="out/replay", show_default=True, type=click.Path(file_okay=False))
@click.option("--schedules", "schedules_file", type=click.Path(dir_okay=False), help="a schedules file to preview")
@click.option("--compare", is_flag=True, help="also replay the current schedules and show what differs")
@click.option("--send", is_flag=True, help="keep the results and deliver the messages (default: preview only)")
def replay(start, end, out, schedules_file, compare, send):
    """Run the schedules as they would have fired over a past span, on the real data."""
    from datetime import timedelta

    from .. import tasks  # noqa: F401
    from ..db import init_db, session_factory
    from ..delivery import deliver
    from ..replay import print_report
    init_db()
    settings = current_settings()
    out_dir = Path(out).resolve()
    begin = datetime.combine(date.fromisoformat(start), datetime.min.time())
    finish = datetime.combine(date.fromisoformat(end), datetime.min.time()) + timedelta(days=1)
    if send and compare:
        fail("--compare is a preview: leave out --send", 2)
    result = _replay_once(load_schedules(schedules_file), begin, finish, out_dir, settings, keep=send)
    if send:
        report = deliver(session_factory(), settings.smtp, settings.outbox_dir)
        click.echo(f"kept; messages sent {report.sent}, written {report.written}, deferred {report.deferred}")
    else:
        click.echo(f"preview only (nothing kept, nothing sent): {len(result.documents)} documents and "
                   f"{sum(result.messages.values())} messages in {out_dir}")
    print_report(result)
    if compare:
        current = _replay_once(load_schedules(None), begin, finish, out_dir / "current", settings, keep=False)
        click.echo(f"compared with the current schedules ({settings.schedules_file}):")
        _comparison(result, current)


def _replay_once(config, begin, finish, out_dir: Path, settings, keep: bool):
    """One replay in its own session: committed when ``keep``, else rolled back with its messages
    written as .eml files under ``out_dir/outbox``."""
    from tqdm import tqdm

    from ..db import session_factory
    from ..delivery import write_eml
    from ..replay import plan
    from ..replay import replay as do_replay

    target = settings if keep else settings.with_var(out_dir)
    s = session_factory()()
    try:
        with tqdm(total=len(plan(config, begin, finish)), desc="replay", unit=" slots",
                  disable=not sys.stderr.isatty()) as bar:
            result = do_replay(s, config, begin, finish, target, prefix="" if keep else "replay:", progress=bar.update)
        if keep:
            s.commit()
        else:
            write_eml(s, out_dir / "outbox", settings.smtp["sender"], settings.smtp["sender_name"], result.run_ids,
                      result.first_message)
            s.rollback()
    finally:
        s.close()
    return result


def _comparison(new, current) -> None:
    """What the previewed schedules produce beside the current ones: runs, documents, messages, tiers."""
    rows = [("documents", len(current.documents), len(new.documents))]
    rows += [(f"runs of {j}", current.runs.get(j, 0), new.runs.get(j, 0)) for j in sorted(set(current.runs) | set(new.runs))]
    rows += [(f"messages to {r}", current.messages.get(r, 0), new.messages.get(r, 0))
             for r in sorted(set(current.messages) | set(new.messages))]
    rows += [(f"escalations {t}", current.escalations.get(t, 0), new.escalations.get(t, 0))
             for t in sorted(set(current.escalations) | set(new.escalations))]
    click.echo(f"  {'':<34} {'current':>8} {'preview':>8}")
    for label, a, b in rows:
        click.echo(f"  {label:<34} {a:>8} {b:>8}{'' if a == b else f'  ({b - a:+d})'}")


COMMANDS = [demo, replay]
