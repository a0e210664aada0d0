"""How a run reaches its job: sent over the broker to a worker, or executed in this process when
there is no broker (``--inline``, or no ``REDIS_URL``).

Importing this module imports ``worker.tasks``, which defines the jobs and binds their actors to the
broker the environment configures: the commands and pages that start runs import it; modules that
only read the schedules never do (``worker/job_names.py``)."""
from __future__ import annotations

import logging
from collections.abc import Callable

from . import tasks
from .jobs import execute
from .models import Run

log = logging.getLogger("hotline.scheduler")


def send(job: str, run_id: int) -> str:
    """Queue the run for a worker; the broker's message id, so the scheduler can tell a lost message later."""
    return tasks.base.send(job, run_id)


def run_here(run_id: int) -> str:
    """Execute the run in this process, and then its parts (``jobs.spawn_part``); its final state."""
    return execute(run_id)


def enqueuer(inline: bool) -> Callable[[Run], str | None]:
    """The scheduler's way to start a run: ``send`` it, or execute it here when ``inline``."""
    def enqueue(run: Run) -> str | None:
        if not inline:
            return send(run.job, run.id)
        try:
            run_here(run.id)
        except Exception as exc:  # noqa: BLE001 — recorded in the ledger; the scheduler goes on
            log.error("run %s (%s) failed: %s", run.id, run.job, exc)
        return None
    return enqueue
