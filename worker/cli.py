"""The ``hotline`` command: the root group.  Each command lives in ``worker/commands/`` by what it
works on; this module only puts them together (``hotline = worker.cli:main``)."""
from __future__ import annotations

import click

from .commands import console, data, doctor, ledgers, outbox, policy, replay, runs
from .config import Settings


@click.group()
@click.pass_context
def main(ctx: click.Context):
    """Report and notification service of the 12345 hotline (12345 热线报表与通知服务)."""
    ctx.obj = Settings.from_env()   # read once here; each command takes them from the context


for _module in (data, policy, runs, console, outbox, replay, ledgers, doctor):
    for _command in _module.COMMANDS:
        main.add_command(_command)


if __name__ == "__main__":
    main()
