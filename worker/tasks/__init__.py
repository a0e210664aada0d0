"""Dramatiq actors, one module per family.  Importing this package binds them to the broker
configured by the environment (``REDIS_URL``), or to a stub broker for in-process runs."""
from __future__ import annotations

from .. import broker as _broker
from .. import logs as _logs

_logs.setup_from_env()
_broker.setup()

from . import escalation, maintenance, outbox, reports, tickets, units

ACTORS = {**reports.actors, **escalation.actors, **outbox.actors, **maintenance.actors, **units.actors,
          **tickets.actors}
