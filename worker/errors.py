"""The error every policy and settings reader raises, in a module of its own: the readers
(``config``, ``schema``, ``policy_schema``, ``schedules``) all name it, and none of them may import
another only for it."""
from __future__ import annotations


class ConfigError(Exception):
    """A policy or settings file is wrong; the message names the file and the field."""
