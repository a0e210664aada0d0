"""One Dramatiq actor per job, each taking only the run id; the ledger does the rest."""
from __future__ import annotations

import dramatiq

from ..jobs import JOBS, execute


def send(job: str, run_id: int) -> str:
    """A run sent to the workers by its job's actor, from the worker running another (a run's parts):
    the broker's message id."""
    return dramatiq.get_broker().get_actor(job).send(run_id).message_id


def make_actors(*names: str) -> dict[str, dramatiq.Actor]:
    actors = {}
    for name in names:
        spec = JOBS[name]

        def run(run_id: int, _name=name) -> None:
            # The outcome is in the ledger; returning it would make Dramatiq warn on every run that
            # no Results middleware stores it.  The run's parts go to the broker, for any worker.
            execute(run_id, send=send)

        run.__name__ = name
        actors[name] = dramatiq.actor(actor_name=name, queue_name=spec.family,
                                      time_limit=int(spec.time_limit.total_seconds() * 1000))(run)
    return actors
