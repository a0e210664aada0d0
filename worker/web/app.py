"""The console's HTTP layer (Starlette): sessions, CSRF, roles, error pages, the routes.

Security, as decided here:
- sessions are signed cookies (itsdangerous through Starlette's ``SessionMiddleware``), HttpOnly,
  ``SameSite=Strict``, ``Secure`` unless the console is started with ``--insecure-cookies`` (plain
  HTTP on a workstation), lasting ``session_hours`` (config/console.yaml); the login and its
  disabled state are checked again on every request;
- every POST carries the session's CSRF token (also the login form), compared in constant time;
- a reverse proxy may assert the login in a header (``--remote-user-header``, off by default); the
  login must still be a console user who is not disabled;
- no personal data in URLs (tickets go by their number, units by code, nothing by caller) nor in
  the log, which has method, path without query, status, duration and the user's id;
- an error is a page in words (400 / 403 / 404), never a traceback; an unexpected one is logged
  with its traceback under a reference the 500 page shows.
"""
from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.convertors import IntegerConvertor, StringConvertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..config import Settings, load_settings, policy
from ..models import OutboxMessage, Run, RunState
from ..rendering import TEMPLATES
from ..supervision import ANSWER_STATES
from ..times import now_local
from ..vocabulary import MESSAGE_STATES
from . import pages
from .access import (
    Viewer,
    authenticate,
    end_sessions,
    record,
)
from .desk import STAGES
from .handling import Console, Ctx, check_csrf, error_page, html_page, page, printable, unexpected_error

log = logging.getLogger("hotline.web")

MESSAGE_ACTIONS = {"hold": "暂缓发送", "release": "恢复发送", "retry": "重新发送"}


def _centre_or_operations(v: Viewer) -> bool:
    return v.operations or "hotline_center" in v.roles


def _operations(v: Viewer) -> bool:
    return v.operations


# -- pages -------------------------------------------------------------------------------------------
@page("web/today.html")
def today(ctx: Ctx):
    win = pages.window(ctx.cal, ctx.now)
    return {"win": win, **pages.today(ctx.db, ctx.viewer, win), "lists": pages.LISTS,
            "unit_names": pages.unit_names(ctx.db), "stages": STAGES, "answers": ANSWER_STATES}


@page("web/tickets.html")
def ticket_list(ctx: Ctx):
    win = pages.window(ctx.cal, ctx.now)
    return {"win": win, **pages.ticket_list(ctx.db, ctx.viewer, win, ctx.param("unit") or None,
                                            ctx.param("list", "overdue"), ctx.int_param("page", 1))}


@page("web/ticket.html")
def ticket(ctx: Ctx, number: str):
    return pages.ticket(ctx.db, ctx.viewer, number, ctx.now)


@page("web/units.html")
def units(ctx: Ctx):
    if ctx.viewer.law_only:
        raise pages.Refused("司法局账号只能查看涉行政执法工单")
    return {"units": pages.units(ctx.db, ctx.viewer)}


@page("web/unit.html")
def unit(ctx: Ctx, code: str):
    return {**pages.unit_page(ctx.db, ctx.viewer, code, ctx.now), "period_label": pages.period_label,
            "answers": ANSWER_STATES}


@page("web/documents.html")
def documents(ctx: Ctx):
    filters = {k: ctx.param(k) for k in ("kind", "period", "unit", "number")}
    return {"filters": filters, **pages.documents(ctx.db, ctx.viewer, page=ctx.int_param("page", 1), **filters)}


@page("web/document.html")
def document(ctx: Ctx, doc_id: int):
    return pages.document(ctx.db, ctx.viewer, doc_id)


@page()
def download(ctx: Ctx, doc_id: int, number: int):
    doc, ver = pages.version(ctx.db, ctx.viewer, doc_id, number)
    if not Path(ver.path).is_file():
        raise pages.NotFound("该版本的文件已不在归档目录中")
    record(ctx.db, ctx.user.email, "download", f"document {doc_id} v{number}", "ok")
    return FileResponse(ver.path, media_type="application/pdf", filename=f"{doc.title}（第{number}版）.pdf")


@page()
def download_file(ctx: Ctx, doc_id: int, sha256: str):
    name, data = pages.companion(ctx.db, ctx.viewer, doc_id, sha256)
    record(ctx.db, ctx.user.email, "download", f"document {doc_id} {name}"[:100], "ok")
    media = pages.FILE_TYPES.get("." + name.rpartition(".")[2], "application/octet-stream")
    return Response(data, media_type=media,
                    headers={"content-disposition": f"attachment; filename*=utf-8''{quote(name)}"})


@page("web/runs.html", who=_centre_or_operations, refusal="运行情况仅对热线中心和运维人员开放")
def runs(ctx: Ctx):
    state, job = ctx.param("state"), ctx.param("job")
    return {"runs": pages.runs(ctx.db, state=state, job=job), "outbox": pages.outbox(ctx.db),
            "schedules": pages.schedules(ctx.settings.schedules_file, ctx.cal, ctx.now), "state": state, "job": job,
            "actions": MESSAGE_ACTIONS}


@page("web/confirm.html", who=_operations, refusal="只有运维人员可以执行此操作")
def confirm_rerun(ctx: Ctx, run_id: int):
    run = ctx.db.get(Run, run_id)
    if run is None:
        raise pages.NotFound("没有该运行记录")
    if ctx.form is None:
        return {"question": f"重新运行 {run.job}（{run.period_key}，第 {run.id} 号运行）？",
                "detail": "同一期间重新运行不会重复发送已发出的文书和邮件。", "action": f"/runs/{run.id}/rerun"}
    return _rerun(ctx, run)


def _rerun(ctx: Ctx, run: Run) -> Response:
    from ..job_names import JOB_NAMES
    from ..runs import requeue

    if run.job not in JOB_NAMES:
        raise pages.BadParameter(f"“{run.job}”不是可以重新运行的作业")
    if run.state in (RunState.QUEUED.value, RunState.RUNNING.value):
        ctx.request.session["flash"] = f"第 {run.id} 号运行正在排队或运行，未重复提交。"
        return RedirectResponse("/runs", status_code=303)
    requeue(ctx.db, run.id)
    record(ctx.db, ctx.user.email, "rerun", f"run {run.id}", f"{run.job} {run.period_key} queued")
    ctx.db.commit()
    task = None
    settings = ctx.settings
    from ..dispatch import run_here, send
    if settings.redis_url:
        send(run.job, run.id)
    else:   # the embedded default: no broker, so this process runs it after answering
        task = BackgroundTask(run_here, run.id)
    ctx.request.session["flash"] = f"第 {run.id} 号运行（{run.job} {run.period_key}）已重新排队。"
    return RedirectResponse("/runs", status_code=303, background=task)


@page("web/confirm.html", who=_operations, refusal="只有运维人员可以执行此操作")
def confirm_message(ctx: Ctx, message_id: int, action: str):
    from ..mail import set_state

    if action not in MESSAGE_ACTIONS:
        raise pages.NotFound("没有该操作")
    msg = ctx.db.get(OutboxMessage, message_id)
    if msg is None:
        raise pages.NotFound("没有该邮件")
    if ctx.form is None:
        return {"question": f"{MESSAGE_ACTIONS[action]}：第 {msg.id} 号邮件（{msg.recipient_name}，{msg.subject}）？",
                "detail": f"当前状态：{MESSAGE_STATES.get(msg.state, msg.state)}。", "action": f"/outbox/{msg.id}/{action}"}
    changed = set_state(ctx.db, [msg.id], action, ctx.user.email)
    result = f"{changed[0][1]} → {changed[0][2]}" if changed else f"unchanged ({msg.state})"
    record(ctx.db, ctx.user.email, action, f"message {msg.id}", result)
    ctx.request.session["flash"] = (f"第 {msg.id} 号邮件已{MESSAGE_ACTIONS[action]}。" if changed else
                                    f"第 {msg.id} 号邮件当前{MESSAGE_STATES.get(msg.state, msg.state)}，不能{MESSAGE_ACTIONS[action]}。")
    return RedirectResponse("/runs#outbox", status_code=303)


# -- login ---------------------------------------------------------------------------------------------
async def login(request: Request) -> Response:
    if request.method == "GET":
        return html_page(request, "web/login.html", error="", viewer=None)
    form = dict(await request.form())
    check_csrf(request, form)
    return await run_in_threadpool(_login, request, str(form.get("email") or ""), str(form.get("password") or ""))


def _login(request: Request, email: str, password: str) -> Response:
    console: Console = request.app.state.console
    with console.factory() as db:
        user, why = authenticate(db, email, password, request.client.host if request.client else "-")
        db.commit()
        if user is None:
            return html_page(request, "web/login.html", 429 if "过多" in why else 401, error=why, viewer=None)
        request.session.clear()   # a fresh session (and CSRF token) for the signed-in user
        request.session["uid"], request.session["sv"] = user.id, user.session_version
        request.state.uid = user.id
        return RedirectResponse("/today", status_code=303)


async def logout(request: Request) -> Response:
    form = dict(await request.form())
    check_csrf(request, form)
    await run_in_threadpool(_logout, request)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


def _logout(request: Request) -> None:
    """Sign-out ends every session of the login, this cookie and any copy of it."""
    console: Console = request.app.state.console
    with console.factory() as db:
        user = console.user(request, db)
        if user is not None:
            end_sessions(user)
            record(db, user.email, "logout", user.email, "sessions ended")
            db.commit()


async def home(request: Request) -> Response:
    return RedirectResponse("/today", status_code=303)


async def healthz(request: Request) -> Response:
    from sqlalchemy import text

    def ping():
        with request.app.state.console.factory() as db:
            db.execute(text("SELECT 1"))
    await run_in_threadpool(ping)
    return PlainTextResponse("ok")


# -- the app -------------------------------------------------------------------------------------------
async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)   # registered for it; Starlette types every handler with Exception
    message = exc.detail if exc.status_code in (403, 400) and isinstance(exc.detail, str) else {
        404: "没有这个页面。", 405: "该地址不支持此操作。"}.get(exc.status_code, str(exc.detail))
    return error_page(request, exc.status_code, message)


async def _server_error(request: Request, exc: Exception) -> Response:
    return unexpected_error(request, exc)


def _slash_redirect(scope) -> Response | None:
    """``/today/`` → ``/today``, as a relative address (never built from the Host header); leading
    slashes and backslashes collapsed and the path quoted, so it cannot name another site."""
    path = scope["path"]
    if scope["method"] not in ("GET", "HEAD") or path == "/" or not path.endswith("/"):
        return None
    target = quote("/" + path.strip("/\\"), safe="/-._~!$&'()*+,;=:@")
    query = scope.get("query_string", b"").decode("latin-1")
    return RedirectResponse(target + ("?" + quote(query, safe="=&+%") if query else ""), status_code=308)


class Guard:
    """Headers on every answer (no framing, no sniffing, own-origin resources only, pages never
    cached) and one log line per request without query strings or names."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), [0]

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                headers = list(message.get("headers", []))
                headers += [(b"x-frame-options", b"DENY"), (b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"same-origin"),
                            (b"content-security-policy", (b"default-src 'self'; img-src 'self' data:; "
                                                          b"form-action 'self'; frame-ancestors 'none'"))]
                if not scope["path"].startswith("/static/"):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        redirect = _slash_redirect(scope)
        try:
            await (redirect or self.app)(scope, receive, send_with_headers)
        finally:
            uid = scope.get("state", {}).get("uid", "-")
            log.info("%s %s %s %.0fms user=%s", printable(scope["method"]), printable(scope["path"]), status[0],
                     1000 * (time.perf_counter() - started), uid)


def create_app(*, settings: Settings | None = None, database_url: str | None = None, secret: str | None = None,
               secure_cookies: bool = True, remote_user_header: str | None = None,
               clock: Callable[[], datetime] = now_local) -> Starlette:
    """The console.  ``settings`` (default: the environment's, read here once) are kept for every
    request (``Ctx.settings``); ``secret`` signs the session cookies (default: ``HOTLINE_WEB_SECRET``,
    else a key kept in ``$HOTLINE_VAR/web-secret``, made once); ``clock`` is "now" for the pages."""
    from .answers import ROUTES as supervision_routes  # its pages use this module's ``page``

    routes = [
        Route("/", home), Route("/healthz", healthz),
        Route("/login", login, methods=["GET", "POST"]), Route("/logout", logout, methods=["POST"]),
        Route("/today", today), Route("/tickets", ticket_list), Route("/tickets/{number}", ticket),
        Route("/units", units), Route("/units/{code}", unit),
        Route("/documents", documents), Route("/documents/{doc_id:id}", document),
        Route("/documents/{doc_id:id}/v{number:id}.pdf", download),
        Route("/documents/{doc_id:id}/files/{sha256:sha}", download_file),
        Route("/runs", runs), Route("/runs/{run_id:id}/rerun", confirm_rerun, methods=["GET", "POST"]),
        Route("/outbox/{message_id:id}/{action}", confirm_message, methods=["GET", "POST"]),
        *supervision_routes,
        Mount("/static", StaticFiles(directory=str(TEMPLATES / "web" / "static")), name="static"),
    ]
    settings = settings or load_settings()
    hours = policy.console().session_hours
    app = Starlette(routes=routes, middleware=[
        Middleware(Guard),
        Middleware(SessionMiddleware, secret_key=secret or session_secret(settings.var_dir), session_cookie="hotline_console",
                   max_age=hours * 3600, same_site="strict", https_only=secure_cookies),
    ], exception_handlers={HTTPException: _http_error, Exception: _server_error})
    app.router.redirect_slashes = False   # Starlette's builds an absolute URL from the Host header: Guard's instead
    app.state.console = Console(settings, database_url=database_url, clock=clock, remote_user_header=remote_user_header)
    return app


class IdConvertor(IntegerConvertor):
    """A row id in a path: at most 9 digits, so a larger number is no route (404) rather than a
    value the database cannot hold (a 500)."""
    regex = "[0-9]{1,9}"


register_url_convertor("id", IdConvertor())


class ShaConvertor(StringConvertor):
    regex = "[0-9a-f]{64}"


register_url_convertor("sha", ShaConvertor())


MIN_SECRET_LENGTH = 32
PLACEHOLDER_WORDS = ("change-me", "changeme", "change_me", "placeholder", "example", "replace-me", "your-secret")


class WeakSecret(ValueError):
    """A signing key anyone could guess: the console refuses to start with it."""


def secret_problem(secret: str) -> str | None:
    """Why a session signing key is unfit (a placeholder such as deploy/hotline.env.example's, too
    short, too few distinct characters), or None.  Whoever knows the key forges any login's cookie."""
    lowered = secret.lower()
    if any(word in lowered for word in PLACEHOLDER_WORDS):
        return "HOTLINE_WEB_SECRET is a placeholder (the example's value)"
    if len(secret) < MIN_SECRET_LENGTH:
        return f"HOTLINE_WEB_SECRET has {len(secret)} characters, fewer than {MIN_SECRET_LENGTH}"
    if len(set(secret)) < 10:
        return "HOTLINE_WEB_SECRET has fewer than 10 distinct characters"
    return None


def session_secret(var_dir: Path) -> str:
    """``HOTLINE_WEB_SECRET``, else the key kept in ``VAR_DIR/web-secret`` (made once, 0600).
    A placeholder or short key is refused (``WeakSecret``)."""
    import os

    if os.environ.get("HOTLINE_WEB_SECRET"):
        problem = secret_problem(os.environ["HOTLINE_WEB_SECRET"])
        if problem:
            raise WeakSecret(f"{problem}: set a long random string "
                             "(python3 -c 'import secrets; print(secrets.token_urlsafe(48))'), or unset it "
                             "to let the console keep its own key in $HOTLINE_VAR/web-secret")
        return os.environ["HOTLINE_WEB_SECRET"]
    path = var_dir / "web-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(secrets.token_urlsafe(48))
        tmp.chmod(0o600)
        tmp.replace(path)
    return path.read_text().strip()


def from_environment() -> Starlette:
    """The app as ``hotline web`` starts it in each server process (settings from the environment)."""
    import os

    from ..logs import setup
    setup()   # in each server process: uvicorn's processes start without our handler
    as_of = os.environ.get("HOTLINE_WEB_AS_OF")
    clock = (lambda: datetime.fromisoformat(as_of)) if as_of else now_local
    return create_app(secure_cookies=os.environ.get("HOTLINE_WEB_SECURE", "1") != "0",
                      remote_user_header=os.environ.get("HOTLINE_WEB_REMOTE_USER_HEADER") or None, clock=clock)
