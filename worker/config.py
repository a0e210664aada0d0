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
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from .errors import ConfigError
from .redis_keys import RedisKeys

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseModel):
    """Where everything is and how to reach the services, read from the environment once
    (``Settings.from_env``) where a process starts, then passed down."""
    model_config = ConfigDict(frozen=True)

    database_url: str
    redis_url: str | None
    redis_namespace: str = "hotline"
    instance: str                    # this host as the health keys and the worker registry name it
    config_dir: Path
    calendar_file: Path
    schedules_file: Path
    directory_file: Path
    var_dir: Path
    fonts_dir: Path
    smtp: dict[str, Any] = Field(default_factory=dict)

    @property
    def documents_dir(self) -> Path:
        return self.var_dir / "documents"

    @property
    def outbox_dir(self) -> Path:
        return self.var_dir / "outbox"

    @property
    def inbox_dir(self) -> Path:
        return self.var_dir / "inbox"

    @property
    def redis_keys(self) -> RedisKeys:
        return RedisKeys(self.redis_namespace)

    def with_var(self, var_dir: Path) -> Settings:
        """The same settings with another var folder (a preview's, a replay's)."""
        return self.model_copy(update={"var_dir": var_dir})

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings the environment gives: the one place the service reads its variables."""
        env = os.environ if env is None else env

        def path(name: str, default: Path) -> Path:
            return Path(env[name]) if env.get(name) else default

        def policy_file(name: str, file: str, default: Path) -> Path:
            """A file of its own variable, else FILE in the ``HOTLINE_CONFIG`` folder, else the project's."""
            folder = env.get("HOTLINE_CONFIG")
            return path(name, Path(folder) / file if folder else default)

        var_dir = path("HOTLINE_VAR", PROJECT_ROOT / "var")
        # The reduced fonts, built once per machine and shared by every checkout, var folder and demo:
        # HOTLINE_FONTS, else the user's cache directory ($XDG_CACHE_HOME or ~/.cache)/hotline/fonts.
        cache = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        smtp = {
            "host": env.get("SMTP_HOST") or None,
            "port": int(env.get("SMTP_PORT", "25")),
            "security": env.get("SMTP_SECURITY", "none"),  # none | starttls | ssl
            "user": env.get("SMTP_USER") or None,
            "password": env.get("SMTP_PASSWORD") or None,
            "sender": env.get("SMTP_FROM", "12345-hotline@example.gov.cn"),
            "sender_name": env.get("SMTP_FROM_NAME", "区12345政务服务热线"),
            "rate_per_second": float(env.get("SMTP_RATE", "5")),
            "timeout": float(env.get("SMTP_TIMEOUT", "30")),   # connect and each command, seconds
            "deadline": float(env.get("SMTP_DEADLINE", "120")),   # one message's whole transaction, seconds
        }
        return cls(
            database_url=env.get("DATABASE_URL") or f"sqlite:///{var_dir / 'hotline.db'}",
            redis_url=env.get("REDIS_URL") or None,
            redis_namespace=env.get("HOTLINE_REDIS_NAMESPACE") or "hotline",
            # the host name, or HOTLINE_INSTANCE where containers share one (Docker's host network)
            instance=env.get("HOTLINE_INSTANCE") or socket.gethostname(),
            config_dir=path("HOTLINE_CONFIG", PROJECT_ROOT / "config"),
            calendar_file=policy_file("HOTLINE_CALENDAR", "calendar.yaml", PROJECT_ROOT / "calendar.yaml"),
            schedules_file=policy_file("HOTLINE_SCHEDULES", "schedules.yaml", PROJECT_ROOT / "schedules.yaml"),
            directory_file=policy_file("HOTLINE_DIRECTORY", "directory.yaml",
                                       PROJECT_ROOT / "db" / "seed" / "district.yaml"),
            var_dir=var_dir,
            fonts_dir=path("HOTLINE_FONTS", cache / "hotline" / "fonts"),
            smtp=smtp,
        )


def load_settings() -> Settings:
    """The settings as the environment gives them now.  A command builds them once
    (``worker/cli.py``) and passes them down; this is for the code not handed them yet."""
    return Settings.from_env()


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


policy.cache_clear = _policies.clear  # type: ignore[attr-defined]  # cleared as an lru_cache is (the tests)
