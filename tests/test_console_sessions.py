"""Console sessions a server can revoke, and a sign-in that tells nobody which logins exist
(issue 32, "Console sessions").  The console and its logins are test_web's (``console`` fixture).
"""
from __future__ import annotations

import logging
import re
from datetime import timedelta
from pathlib import Path

import pytest
from itsdangerous import TimestampSigner

from tests import test_web
from tests.test_web import CENTRE, LIAISON_D01, NOW, PASSWORD, cli, csrf, login

console = test_web.console   # the same fixture: the district, its history and five logins

ROOT = Path(__file__).resolve().parents[1]


def attempt(client, email: str, password: str):
    return client.post("/login", data={"email": email, "password": password, "csrf": csrf(client, "/login")},
                       follow_redirects=False)


def sign_out(client):
    return client.post("/logout", data={"csrf": csrf(client, "/today")}, follow_redirects=False)


def replay(console, cookie: str):
    """A fresh client carrying a copied session cookie (what an attacker with the cookie has)."""
    c = console()
    c.cookies.set("hotline_console", cookie, domain="testserver.local")
    return c.get("/today", follow_redirects=False)


def test_a_cookie_replayed_after_sign_out_opens_nothing(console):
    c = console(LIAISON_D01)
    cookie = c.cookies.get("hotline_console")
    assert replay(console, cookie).status_code == 200          # the copy works while signed in
    assert sign_out(c).headers["location"] == "/login"
    answer = replay(console, cookie)
    assert answer.status_code == 303 and answer.headers["location"] == "/login"


def test_password_change_disable_and_enable_end_old_sessions(console):
    c = console(LIAISON_D01)
    before = c.cookies.get("hotline_console")
    assert cli("console-user", "add", LIAISON_D01, "--password-stdin", input="another long password\n").exit_code == 0
    assert replay(console, before).headers["location"] == "/login"
    c = console()
    login(c, LIAISON_D01, "another long password")
    second = c.cookies.get("hotline_console")
    assert cli("console-user", "disable", LIAISON_D01).exit_code == 0
    # enabled again (a new password set): the cookie signed before the disable does not come back
    assert cli("console-user", "add", LIAISON_D01, "--password-stdin", input=PASSWORD + "\n").exit_code == 0
    assert replay(console, second).headers["location"] == "/login"
    assert console(LIAISON_D01).get("/today").status_code == 200


def test_failures_answer_alike_for_known_and_unknown_logins(console, monkeypatch):
    """After 5 failures an existing login and an unknown one get the same status and words, each
    after exactly one argon2 verification (the same time); a right password is refused while
    throttled; every attempt is stored."""
    from sqlalchemy import func, select

    from worker.db import session_scope
    from worker.models import LoginAttempt
    from worker.web import access

    verifications, real = [], access._hasher

    class Counting:
        def verify(self, digest, password):
            verifications.append(digest)
            return real.verify(digest, password)

        def __getattr__(self, name):
            return getattr(real, name)
    monkeypatch.setattr(access, "_hasher", Counting())
    c = console()
    answers = {}
    for email in (CENTRE, "nobody@example.gov.cn"):
        for _ in range(5):
            r = attempt(c, email, "wrong password")
            assert r.status_code == 401 and "账号或密码不正确" in r.text
        verifications.clear()
        r = attempt(c, email, PASSWORD)
        answers[email] = (r.status_code, re.search(r'<p class="error"[^>]*>(.*?)</p>', r.text, re.DOTALL).group(1))
        assert len(verifications) == 1
    assert answers[CENTRE] == answers["nobody@example.gov.cn"] == (429, "登录尝试过多，请 15 分钟后再试")
    with session_scope() as s:
        outcomes = dict(s.execute(select(LoginAttempt.outcome, func.count()).group_by(LoginAttempt.outcome)).all())
    assert outcomes == {"wrong": 10, "throttled": 2}


def test_nobody_locks_a_login_out_of_its_own_desk(console):
    """Failures from another address lock the login out of new addresses, not out of the one its
    owner signed in from; an address hammering many logins is refused for all of them."""
    from starlette.testclient import TestClient

    app = console().app

    def client(address: str) -> TestClient:
        return TestClient(app, base_url="https://testserver", client=(address, 50000))

    assert attempt(client("10.0.0.7"), LIAISON_D01, PASSWORD).status_code == 303   # the owner's desk
    attacker = client("203.0.113.9")
    for _ in range(5):
        assert attempt(attacker, LIAISON_D01, "guess").status_code == 401
    assert attempt(attacker, LIAISON_D01, PASSWORD).status_code == 429
    assert attempt(client("198.51.100.1"), LIAISON_D01, PASSWORD).status_code == 429   # a new place: wait
    assert attempt(client("10.0.0.7"), LIAISON_D01, PASSWORD).status_code == 303       # the desk: unaffected
    sprayer = client("192.0.2.66")
    for i in range(20):
        attempt(sprayer, f"user{i}@example.gov.cn", "guess")
    assert attempt(sprayer, CENTRE, PASSWORD).status_code == 429


def test_the_throttle_runs_on_the_real_clock_not_the_pages_moment(db, world, history, monkeypatch):
    """A console started with --as-of (a fixed moment) still lifts a lock once lock_minutes of real
    time have passed."""
    from starlette.testclient import TestClient

    from tests.test_web import prepare
    from worker.web import access
    from worker.web.app import create_app

    world(("console",), lambda: prepare(history))
    c = TestClient(create_app(secret="test-secret", clock=lambda: NOW), base_url="https://testserver")
    for _ in range(5):
        attempt(c, CENTRE, "wrong password")
    assert attempt(c, CENTRE, PASSWORD).status_code == 429
    later = access.now_local() + timedelta(minutes=16)
    monkeypatch.setattr(access, "now_local", lambda: later)
    assert attempt(c, CENTRE, PASSWORD).status_code == 303


@pytest.mark.parametrize("secret", [None, "short-but-random-Qx7", "x" * 40])
def test_hotline_web_and_doctor_refuse_a_guessable_signing_key(db, monkeypatch, secret):
    if secret is None:   # the example file's own value
        example = (ROOT / "deploy" / "hotline.env.example").read_text()
        secret = re.search(r"^HOTLINE_WEB_SECRET=(.*)$", example, re.MULTILINE).group(1)
    monkeypatch.setenv("HOTLINE_WEB_SECRET", secret)
    web = cli("web", "--port", "1")
    assert web.exit_code == 2 and "HOTLINE_WEB_SECRET" in web.output
    doctor = cli("doctor")
    assert "[FAIL] console signing key: HOTLINE_WEB_SECRET" in doctor.output and doctor.exit_code == 1


def test_a_cookie_forged_with_the_example_key_reads_as_nobody(console, monkeypatch):
    """Signed with the placeholder, a cookie naming the centre does not open the console started
    with a real key; and the placeholder itself cannot be the key (test above)."""
    import base64
    import json

    forged = TimestampSigner("change-me-to-a-long-random-string").sign(
        base64.b64encode(json.dumps({"uid": 1, "sv": 0}).encode())).decode()
    assert replay(console, forged).headers["location"] == "/login"


def test_a_newline_in_the_path_cannot_forge_a_log_line(console, caplog):
    c = console(CENTRE)
    with caplog.at_level(logging.INFO, logger="hotline.web"):
        c.get("/today%0AGET /runs 200 1ms user=1")
    lines = [r.getMessage() for r in caplog.records if r.name == "hotline.web"]
    assert len(lines) == 1 and "\n" not in lines[0] and lines[0].startswith("GET /today\\nGET /runs 200 1ms user=1 404")


def test_an_id_out_of_range_is_a_404_logged_not_as_an_error(console, caplog):
    c = console(CENTRE)
    with caplog.at_level(logging.INFO):
        for path in ("/documents/99999999999999999999999", "/documents/1/v99999999999999999999.pdf",
                     "/runs/99999999999999999999/rerun"):
            r = c.get(path)
            assert r.status_code == 404 and "未找到" in r.text, path
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_an_unexpected_error_is_logged_once(console, monkeypatch, caplog):
    from starlette.testclient import TestClient

    from worker.web import pages

    monkeypatch.setattr(pages, "today", lambda *a, **k: 1 / 0)
    c = TestClient(console().app, base_url="https://testserver")   # a re-raised error would fail here
    login(c, CENTRE)
    with caplog.at_level(logging.INFO):
        assert c.get("/today").status_code == 500
    assert len([r for r in caplog.records if r.exc_info]) == 1


@pytest.mark.parametrize("path, location", [("/today/", "/today"), ("//evil.example/", "/evil.example"),
                                            ("/%5Cevil.example/", "/evil.example"),
                                            ("/tickets/?list=overdue", "/tickets?list=overdue")])
def test_a_trailing_slash_redirect_is_relative(console, path, location):
    r = console(CENTRE).get("https://testserver" + path, headers={"host": "evil.example"}, follow_redirects=False)
    assert r.status_code == 308 and r.headers["location"] == location
