"""E-mail addresses checked where they enter (issue 32): the directory, config/alerts.yaml and console
logins refuse what no relay can deliver (a non-ASCII local part, an IDN domain that cannot be encoded,
a comma list, a line break) by file, line and field; an IDN domain is stored in punycode."""
from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from worker.addresses import AddressError, validate_address
from worker.cli import main
from worker.config import PROJECT_ROOT
from worker.db import session_scope
from worker.models import ConsoleUser, Person


def cli(*args, input=None):
    return CliRunner().invoke(main, list(args), input=input)


@pytest.mark.parametrize("raw,stored", [
    ("head.d01@example.gov.cn", "head.d01@example.gov.cn"),
    ("  Head.D01@Example.GOV.cn ", "Head.D01@example.gov.cn"),
    ("ops@例子.中国", "ops@xn--fsqu00a.xn--fiqs8s"),
    ("ops@xn--fsqu00a.xn--fiqs8s", "ops@xn--fsqu00a.xn--fiqs8s"),
    ("ops@ＥＸＡＭＰＬＥ.cn", "ops@example.cn"),
])
def test_an_address_is_stored_as_a_relay_needs_it(raw, stored):
    assert validate_address(raw) == stored


@pytest.mark.parametrize("raw,why", [
    ("张三@example.gov.cn", "the part before @ ('张三') is not ASCII"),
    ("ops@" + "中" * 70 + ".cn", "cannot be encoded for DNS"),
    ("ops@xn--zz.cn", "the punycode domain 'xn--zz.cn' is not valid"),
    ("a@example.gov.cn, b@example.gov.cn", "is a list of addresses, not one"),
    ("a@example.gov.cn;b@example.gov.cn", "is a list of addresses, not one"),
    ("a@example.gov.cn\r\nBcc: x@evil.example", "contains a line break"),
    ("a@example.gov.cn\n", "contains a line break"),
    ("a\x00@example.gov.cn", "contains the control character U+0000"),
    ("王五 <a@example.gov.cn>", "has a display name"),
    ("a@@example.gov.cn", "more than one @"),
    ("example.gov.cn", "no @"),
    ("a@localhost", "is not a valid domain name"),
    ("a..b@example.gov.cn", "is not a valid mailbox name"),
])
def test_what_no_relay_delivers_is_refused_with_why(raw, why):
    with pytest.raises(AddressError, match=None) as exc:
        validate_address(raw)
    assert why in str(exc.value)


DIRECTORY = ("units:\n  - {{code: X1, name: 新单位, kind: department}}\npeople:\n"
             "  - name: 王五\n    role: unit_head\n    unit: X1\n    email: {email}\n")


@pytest.mark.parametrize("email,why", [
    ("张三@example.gov.cn", "the part before @ ('张三') is not ASCII"),
    ('"a@example.gov.cn, b@example.gov.cn"', "is a list of addresses, not one"),
    ('"a@example.gov.cn\\r\\nBcc: x@evil.example"', "contains a line break"),
    ("ops@" + "中" * 70 + ".cn", "cannot be encoded for DNS"),
])
def test_directory_load_refuses_a_bad_address_by_line_and_changes_nothing(sqlite_db, tmp_path, email, why):
    path = tmp_path / "district.yaml"
    path.write_text(DIRECTORY.format(email=email), encoding="utf-8")
    res = cli("directory", "load", str(path))
    assert res.exit_code == 1, res.output
    assert f"{path}:7: email: " in res.output and why in res.output and "nothing was changed" in res.output
    with session_scope() as s:
        assert s.scalar(select(Person.id).where(Person.name == "王五")) is None


def test_directory_load_stores_an_idn_domain_in_punycode(sqlite_db, tmp_path):
    path = tmp_path / "district.yaml"
    path.write_text(DIRECTORY.format(email="wangwu@例子.中国"), encoding="utf-8")
    res = cli("directory", "load", str(path))
    assert res.exit_code == 0, res.output
    with session_scope() as s:
        assert s.scalar(select(Person.email).where(Person.name == "王五")) == "wangwu@xn--fsqu00a.xn--fiqs8s"


def test_a_directory_csv_names_the_line(sqlite_db, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("name,email,role,unit\n王五,a@example.gov.cn,unit_head,D01\n赵六,\"b@example.gov.cn,c@example.gov.cn\","
                    "liaison,D01\n", encoding="utf-8")
    res = cli("directory", "load", str(path))
    assert res.exit_code == 1
    assert f"{path}:3: email: 'b@example.gov.cn,c@example.gov.cn' is a list of addresses, not one" in res.output


@pytest.mark.parametrize("email,why", [
    ("张三@example.gov.cn", "is not ASCII"),
    ("a@example.gov.cn\r\nBcc: x@evil.example", "contains a line break"),
    ("a@example.gov.cn,b@example.gov.cn", "is a list of addresses"),
])
def test_console_user_add_refuses_a_bad_address(sqlite_db, email, why):
    res = cli("console-user", "add", email, "--operations", "--password-stdin", input="a long enough password\n")
    assert res.exit_code == 2 and "console-user add: EMAIL: " in res.output and why in res.output, res.output
    with session_scope() as s:
        assert s.scalars(select(ConsoleUser)).all() == []


def test_alerts_yaml_with_a_bad_address_is_named_by_line_and_the_others_are_still_told(sqlite_db, tmp_path,
                                                                                         monkeypatch):
    from worker.alerts import owners
    from worker.config import policy

    folder = tmp_path / "config"
    shutil.copytree(PROJECT_ROOT / "config", folder)
    monkeypatch.setenv("HOTLINE_CONFIG", str(folder))
    shutil.copy(PROJECT_ROOT / "calendar.yaml", folder / "calendar.yaml")
    shutil.copy(PROJECT_ROOT / "schedules.yaml", folder / "schedules.yaml")
    shutil.copy(PROJECT_ROOT / "db" / "seed" / "district.yaml", folder / "directory.yaml")
    policy.cache_clear()
    alerts = folder / "alerts.yaml"
    text = alerts.read_text(encoding="utf-8").replace("default: [ops@example.gov.cn]",
                                                       'default: [ops@example.gov.cn, "张三@example.gov.cn"]')
    alerts.write_text(text.replace("  weekly_bulletin: [center@example.gov.cn]",
                                   '  weekly_bulletin: ["center@example.gov.cn, duty@example.gov.cn"]'),
                      encoding="utf-8")
    out = cli("doctor", "--today", "2026-11-01").output
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.startswith("default:"))
    assert f"{alerts}:{line}: default[2]: '张三@example.gov.cn': the part before @ ('张三') is not ASCII" in out
    assert f"{alerts}:{line + 2}: weekly_bulletin[1]: 'center@example.gov.cn, duty@example.gov.cn' is a list" in out
    assert owners("weekly_bulletin") == ["ops@example.gov.cn"]


def test_doctor_and_the_recipients_skip_an_address_stored_before_the_check(sqlite_db, history):
    from worker.recipients import resolve

    with session_scope() as s:
        s.add(Person(name="张三", role="justice_bureau", email="张三@example.gov.cn"))
    out = cli("doctor", "--today", "2026-11-01").output
    assert "justice_bureau 张三: '张三@example.gov.cn': the part before @ ('张三') is not ASCII" in out
    with session_scope() as s:
        found = resolve(s, ["justice_bureau"])
        assert "张三@example.gov.cn" not in [p.email for p in found.people]
        assert any("张三 (justice_bureau): '张三@example.gov.cn'" in m for m in found.missing)
