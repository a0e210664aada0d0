"""Settings and the policy files.

Mechanism lives in code; policy lives in YAML next to the project (``config/*.yaml``,
``calendar.yaml``, ``schedules.yaml``, the directory ``db/seed/district.yaml``).

A deployment keeps all of it in one folder outside the image, ``HOTLINE_CONFIG``: the policy files,
``schedules.yaml``, ``calendar.yaml`` and ``directory.yaml`` side by side (``deploy/init-config.sh``
fills one from the shipped files).  A folder, not single files, is what a container mounts: an editor
that saves by rename leaves a single-file bind mount on the old inode, and the scheduler would never
see the edit.  ``HOTLINE_SCHEDULES``, ``HOTLINE_CALENDAR`` and ``HOTLINE_DIRECTORY`` still move one file.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def instance_name() -> str:
    """This process's host as the health keys and the worker registry name it: the host name, or
    ``HOTLINE_INSTANCE`` where containers share one (Docker's host network)."""
    import socket

    return os.environ.get("HOTLINE_INSTANCE") or socket.gethostname()


def _path(env: str, default: Path) -> Path:
    value = os.environ.get(env)
    return Path(value) if value else default


def _policy_file(env: str, name: str, default: Path) -> Path:
    """A file of its own variable, else NAME in the ``HOTLINE_CONFIG`` folder, else the project's."""
    folder = os.environ.get("HOTLINE_CONFIG")
    return _path(env, Path(folder) / name if folder else default)


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str | None
    config_dir: Path
    calendar_file: Path
    schedules_file: Path
    directory_file: Path
    var_dir: Path
    smtp: dict = field(default_factory=dict)

    @property
    def documents_dir(self) -> Path:
        return self.var_dir / "documents"

    @property
    def outbox_dir(self) -> Path:
        return self.var_dir / "outbox"

    @property
    def blobs_dir(self) -> Path:
        return self.var_dir / "blobs"

    @property
    def inbox_dir(self) -> Path:
        return self.var_dir / "inbox"

    @property
    def fonts_dir(self) -> Path:
        """The reduced fonts, built once per machine and shared by every checkout, var folder and demo:
        ``HOTLINE_FONTS``, else the user's cache directory (``$XDG_CACHE_HOME`` or ``~/.cache``)
        ``/hotline/fonts``."""
        if os.environ.get("HOTLINE_FONTS"):
            return Path(os.environ["HOTLINE_FONTS"])
        return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hotline" / "fonts"


def load_settings() -> Settings:
    var_dir = _path("HOTLINE_VAR", PROJECT_ROOT / "var")
    smtp = {
        "host": os.environ.get("SMTP_HOST") or None,
        "port": int(os.environ.get("SMTP_PORT", "25")),
        "security": os.environ.get("SMTP_SECURITY", "none"),  # none | starttls | ssl
        "user": os.environ.get("SMTP_USER") or None,
        "password": os.environ.get("SMTP_PASSWORD") or None,
        "sender": os.environ.get("SMTP_FROM", "12345-hotline@example.gov.cn"),
        "sender_name": os.environ.get("SMTP_FROM_NAME", "区12345政务服务热线"),
        "rate_per_second": float(os.environ.get("SMTP_RATE", "5")),
        "timeout": float(os.environ.get("SMTP_TIMEOUT", "30")),   # connect and each command, seconds
        "deadline": float(os.environ.get("SMTP_DEADLINE", "120")),   # one message's whole transaction, seconds
    }
    return Settings(
        database_url=os.environ.get("DATABASE_URL") or f"sqlite:///{var_dir / 'hotline.db'}",
        redis_url=os.environ.get("REDIS_URL") or None,
        config_dir=_path("HOTLINE_CONFIG", PROJECT_ROOT / "config"),
        calendar_file=_policy_file("HOTLINE_CALENDAR", "calendar.yaml", PROJECT_ROOT / "calendar.yaml"),
        schedules_file=_policy_file("HOTLINE_SCHEDULES", "schedules.yaml", PROJECT_ROOT / "schedules.yaml"),
        directory_file=_policy_file("HOTLINE_DIRECTORY", "directory.yaml",
                                    PROJECT_ROOT / "db" / "seed" / "district.yaml"),
        var_dir=var_dir,
        smtp=smtp,
    )


def read_yaml(path: Path) -> dict:
    """Read a YAML mapping; errors name the file and the line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


_policies: dict[Path, tuple[float, dict]] = {}


def policy(name: str, config_dir: str | None = None) -> dict:
    """One of the policy files in the config folder (``metrics``, ``escalation``, ``documents``…),
    checked against its schema (``worker.policy_schema``) and read again when the file changes.
    An invalid edit is reported (log, and the error of the job that reads it) while the last valid
    version of the file, if this process has one, stays in force."""
    import logging

    from .policy_schema import check

    folder = Path(config_dir) if config_dir else load_settings().config_dir
    path = folder / f"{name}.yaml"
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = -1.0
    known = _policies.get(path)
    if known is not None and known[0] == mtime:
        return known[1]
    try:
        check(name, path)
        data = read_yaml(path)
    except ConfigError as exc:
        if known is None:
            raise
        logging.getLogger("hotline.config").error("%s\nkeeping the last valid version of %s", exc, path)
        _policies[path] = (mtime, known[1])
        return known[1]
    _policies[path] = (mtime, data)
    return data


policy.cache_clear = _policies.clear
