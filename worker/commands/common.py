"""What every command shares: the error exit, and the policy files and moments read from options
(a problem is one line and exit status 2, never a traceback)."""
from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import NoReturn

import click

from ..config import ConfigError, Settings


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def current_settings() -> Settings:
    """The settings ``hotline`` read from the environment as it started (``worker/cli.py``)."""
    return click.get_current_context().find_root().obj


def policy_calendar(path: str | None = None):
    from ..calendar import load_calendar

    try:
        return load_calendar(path, strict=True)
    except ConfigError as exc:
        fail(str(exc), 2)


def policy_rules():
    from ..rules import load_rules

    try:
        return load_rules()
    except ConfigError as exc:
        fail(str(exc), 2)


def at_moment(text: str | None) -> datetime:
    from ..times import now_local, parse_local

    if not text:
        return now_local()
    try:
        return parse_local(text)
    except ValueError as exc:
        fail(str(exc), 2)


def load_schedules(file: str | None):
    """The schedules file (default: the configured one), or every problem printed and exit 1."""
    from ..schedules import ScheduleError, load

    path = Path(file) if file else current_settings().schedules_file
    try:
        return load(path)
    except ScheduleError as exc:
        for p in exc.problems:
            click.echo(p, err=True)
        sys.exit(1)


def operator_name(by: str | None) -> str:
    import getpass

    return by or os.environ.get("HOTLINE_OPERATOR") or getpass.getuser()


class PolicyChoice(click.Choice):
    """A choice among the names a policy file defines (the source channels of config/rules.yaml, say),
    read when the command line is parsed or the help shown: a channel added to the policy is a valid
    value at once, and a misspelt one is refused with the list before anything runs."""

    def __init__(self, names: Callable[[], Iterable[str]]):
        self._names = names
        super().__init__((), case_sensitive=True)

    @property
    def choices(self) -> tuple[str, ...]:
        try:
            return tuple(self._names())
        except ConfigError as exc:
            self.fail(str(exc))

    @choices.setter
    def choices(self, _value) -> None:
        """The names come from the policy; click's own assignment is ignored."""


def channels() -> list[str]:
    """The source channels (诉求渠道) of the rules."""
    from ..rules import load_rules

    return list(load_rules().channels)


def urgent_kinds() -> list[str]:
    """The urgent kinds (紧急类型) of the rules."""
    from ..rules import load_rules

    return list(load_rules().urgent_reply_hours)
