"""The web console's commands: ``web`` and ``console-user``."""
from __future__ import annotations

import os
import sys

import click

from .common import at_moment, current_settings, fail


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on (0.0.0.0 in a container)")
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="processes (each with its own threads)")
@click.option("--insecure-cookies", is_flag=True, help="session cookies without Secure (plain HTTP on a workstation)")
@click.option("--remote-user-header", help="trust the login a reverse proxy asserts in this header (e.g. X-Remote-User)")
@click.option("--as-of", "as_of", help="count as of this moment instead of now (a replayed history, such as the demo's)")
def web(host, port, workers, insecure_cookies, remote_user_header, as_of):
    """Serve the web console (今日, 单位, 通报与文书, 运行) for the users of `hotline console-user`."""
    import uvicorn

    from ..db import init_db
    from ..web.app import WeakSecret, session_secret

    try:
        session_secret(current_settings().var_dir)   # checked, and made here once before the server's processes read it
    except WeakSecret as exc:
        fail(str(exc), 2)
    init_db()
    os.environ["HOTLINE_WEB_SECURE"] = "0" if insecure_cookies else "1"
    if remote_user_header:
        os.environ["HOTLINE_WEB_REMOTE_USER_HEADER"] = remote_user_header
    if as_of:
        os.environ["HOTLINE_WEB_AS_OF"] = at_moment(as_of).isoformat(sep=" ")
    click.echo(f"console on http://{host}:{port}/ ({'plain-HTTP cookies' if insecure_cookies else 'Secure cookies'}"
               f"{', logins from ' + remote_user_header if remote_user_header else ''})")
    uvicorn.run("worker.web.app:from_environment", factory=True, host=host, port=port, workers=workers,
                access_log=False, proxy_headers=True, server_header=False, log_config=None)


@click.group("console-user")
def console_user():
    """Logins of the web console: add, password, disable, list.  What a login sees comes from the
    directory entry with the same e-mail address; --operations adds the console's operations role."""


def _password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return click.prompt("password", hide_input=True, confirmation_prompt=True)


@console_user.command("add")
@click.argument("email")
@click.option("--operations", is_flag=True, help="may re-run periods and hold, release or retry messages")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@click.option("--proxy-only", is_flag=True, help="no password: signs in only through --remote-user-header")
def console_user_add(email, operations, password_stdin, proxy_only):
    """Add a login (or change its role and password)."""
    from sqlalchemy import select

    from ..addresses import AddressError, validate_address
    from ..db import init_db, session_scope
    from ..models import ConsoleUser, Person
    from ..times import now_local
    from ..web.access import end_sessions, hash_password

    try:
        email = validate_address(email).lower()
    except AddressError as exc:
        fail(f"console-user add: EMAIL: {exc}", 2)
    try:
        digest = None if proxy_only else hash_password(_password(password_stdin))
    except ValueError as exc:
        fail(str(exc), 2)
    init_db()
    with session_scope() as s:
        known = s.scalars(select(Person).where(Person.email == email)).all()
        if not known and not operations:
            fail(f"{email} is not in the directory: load it first (hotline directory load), or give --operations", 2)
        user = s.scalars(select(ConsoleUser).where(ConsoleUser.email == email)).first()
        if user is None:
            user = ConsoleUser(email=email, created_at=now_local(), session_version=0)
            s.add(user)
        else:   # a new password, or a disabled login enabled again: no session from before opens a page
            end_sessions(user)
        user.password_hash, user.operations, user.disabled = digest, operations, False
        roles = ", ".join(p.role + (f" of {p.unit_code}" if p.unit_code else "") for p in known)
    click.echo(f"{email}: {roles or 'not in the directory'}{' + operations' if operations else ''}")


@console_user.command("disable")
@click.argument("email")
def console_user_disable(email):
    """Disable a login: its sessions end at their next request."""
    from sqlalchemy import select

    from ..db import init_db, session_scope
    from ..models import ConsoleUser
    from ..web.access import end_sessions

    init_db()
    with session_scope() as s:
        user = s.scalars(select(ConsoleUser).where(ConsoleUser.email == email.strip().lower())).first()
        if user is not None:
            user.disabled = True
            end_sessions(user)
    if user is None:
        fail(f"no console login {email}", 1)
    click.echo(f"{email}: disabled")


@console_user.command("list")
def console_user_list():
    """Every login with its directory roles."""
    from sqlalchemy import select

    from ..db import init_db, session_scope
    from ..models import ConsoleUser
    from ..web.access import viewer_for

    init_db()
    with session_scope() as s:
        for u in s.scalars(select(ConsoleUser).order_by(ConsoleUser.email)):
            viewer = viewer_for(s, u)
            state = "disabled" if u.disabled else "active"
            click.echo(f"{u.email:<36} {state:<8} {viewer.label if viewer else 'sees nothing (not in the directory)'}")


COMMANDS = [web, console_user]
