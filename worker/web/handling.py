"""How a console page is served: the signed-in viewer, its scope, the CSRF check and the error
pages, shared by the console's route modules (``app`` and ``answers``) so neither imports the other."""
from __future__ import annotations

import hmac
import logging
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ..calendar import WorkCalendar
from ..config import Settings, policy
from ..db import session_factory
from ..models import ConsoleUser
from ..rendering import freeze_long_lived, render_html
from ..vocabulary import MESSAGE_STATES, ROLE_LABELS, RUN_STATES
from . import pages
from .access import Viewer, viewer_for

log = logging.getLogger("hotline.web")


@dataclass
class Ctx:
    request: Request
    db: Session
    viewer: Viewer
    user: ConsoleUser
    form: dict[str, Any] | None   # a POST's fields; None on a GET
    now: datetime
    cal: WorkCalendar
    settings: Settings            # the app's, read once where it was made (``create_app``)

    def param(self, name: str, default: str = "") -> str:
        return (self.request.query_params.get(name) or default).strip()

    def int_param(self, name: str, default: int, low: int = 1, high: int = 10_000) -> int:
        raw = self.param(name)
        if not raw:
            return default
        if not raw.isdigit() or not low <= int(raw) <= high:
            raise pages.BadParameter(f"参数 {name} 应为 {low} 到 {high} 之间的整数")
        return int(raw)

    def field(self, name: str) -> Any:
        """A field of the POSTed form (None when absent)."""
        return self.form.get(name) if self.form is not None else None


class Console:
    """The app's state: its settings, the database, the calendar, the clock and how logins arrive."""

    def __init__(self, settings: Settings, *, database_url: str | None, clock: Callable[[], datetime],
                 remote_user_header: str | None):
        from ..calendar import load_calendar

        self.settings = settings
        self.factory = session_factory(database_url)
        self.clock = clock
        self.remote_user_header = remote_user_header
        self.cal = load_calendar(settings.calendar_file)

    # -- who is asking --------------------------------------------------------------------------
    def user(self, request: Request, db: Session) -> ConsoleUser | None:
        from sqlalchemy import select

        if self.remote_user_header:
            login = (request.headers.get(self.remote_user_header) or "").strip().lower()
            return db.scalars(select(ConsoleUser).where(ConsoleUser.email == login,
                                                        ConsoleUser.disabled.is_(False))).first() if login else None
        uid, version = request.session.get("uid"), request.session.get("sv")
        user = db.get(ConsoleUser, uid) if isinstance(uid, int) else None
        if user is None or user.disabled or version != user.session_version:
            return None   # signed out, password changed, disabled or re-enabled since the cookie was signed
        return user


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf(request: Request, form: dict[str, Any]) -> None:
    sent, kept = str(form.get("csrf") or ""), request.session.get("csrf") or ""
    if not kept or not hmac.compare_digest(sent.encode(), kept.encode()):
        raise HTTPException(403, "表单已失效（可能已在别处退出登录或停留过久），请返回刷新后重试。")


def html_page(request: Request, template: str, status: int = 200, **context) -> HTMLResponse:
    flash = request.session.pop("flash", None) if "session" in request.scope else None
    body = render_html(template, csrf=csrf_token(request) if "session" in request.scope else "", flash=flash,
                       path=request.url.path, labels=_labels(), **context)
    return HTMLResponse(body, status_code=status)


def _labels() -> dict:
    """The console's words for states, roles and kinds of document (templates: ``labels``)."""
    cfg = policy.console()
    return {"run": RUN_STATES, "message": MESSAGE_STATES, "role": ROLE_LABELS, "kind": cfg.kind_labels,
            "job": cfg.job_labels, "source": cfg.source_labels}


def error_page(request: Request, status: int, message: str, viewer: Viewer | None = None) -> HTMLResponse:
    titles = {400: "请求有误", 403: "无权访问", 404: "未找到", 405: "不支持的操作", 500: "服务器内部错误"}
    return html_page(request, "web/error.html", status, title=titles.get(status, "错误"), message=message,
                 code=status, viewer=viewer)


def page(template: str | None = None, *, who: Callable[[Viewer], bool] | None = None,
         refusal: str = "您无权访问此页面") -> Callable:
    """A route body ``fn(ctx, **path_params)`` run in a worker thread with its own database session:
    signed in (else to the login page), allowed (``who``), the form's CSRF token checked; a dict
    it returns is rendered with ``template``, a Response is returned as it is."""
    def wrap(fn):
        async def endpoint(request: Request) -> Response:
            form: dict[str, Any] | None = None
            if request.method == "POST":
                form = dict(await request.form())
                check_csrf(request, form)
            return await run_in_threadpool(_serve, request, form)

        def _serve(request: Request, form: dict[str, Any] | None) -> Response:
            console: Console = request.app.state.console
            with console.factory() as db:
                user = console.user(request, db)
                if user is None:
                    if console.remote_user_header:
                        return error_page(request, 403, "反向代理未给出有效的登录身份。")
                    return RedirectResponse("/login", status_code=303)
                viewer = viewer_for(db, user)
                request.state.uid = user.id
                if viewer is None:
                    return error_page(request, 403, "该账号不在通讯录中，或通讯录未给它任何查看范围；请联系热线中心。")
                if who is not None and not who(viewer):
                    return error_page(request, 403, refusal, viewer)
                ctx = Ctx(request, db, viewer, user, form, console.clock(), console.cal, console.settings)
                try:
                    result = fn(ctx, **request.path_params)
                    db.commit()
                except pages.Refused as exc:
                    return error_page(request, 403, str(exc), viewer)
                except pages.NotFound as exc:
                    return error_page(request, 404, str(exc), viewer)
                except pages.BadParameter as exc:
                    return error_page(request, 400, str(exc), viewer)
                except Exception as exc:  # noqa: BLE001 - answered here, logged once (not re-raised to the server)
                    return unexpected_error(request, exc, viewer)
                if isinstance(result, Response):
                    return result
                if template is None:
                    raise TypeError(f"{fn.__name__} returned a page's data, but its @page names no template")
                page_html = html_page(request, template, viewer=viewer, now=ctx.now, **result)
            # Once the first page has loaded what pages use: a full collection would walk it all
            # again (its pauses were the slowest tenth of the pages on the 2 M-ticket year).
            freeze_long_lived()
            return page_html
        return endpoint
    return wrap


def unexpected_error(request: Request, exc: Exception, viewer: Viewer | None = None) -> Response:
    ref = uuid.uuid4().hex[:10]
    log.error("error %s on %s %s", ref, request.method, printable(request.url.path), exc_info=exc)
    return error_page(request, 500, f"处理请求时出错，已记录（参考编号 {ref}）。请稍后重试或联系运维人员。", viewer)


def printable(text: str) -> str:
    """``text`` with control and format characters escaped (\\n, \\x1b, \\u202e): a request
    path cannot write a line of its own into the log, nor hide what follows."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


