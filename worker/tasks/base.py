"""One Dramatiq actor per job, each taking only the run id; the ledger does the rest."""
from __future__ import annotations

import dramatiq

from ..jobs import JOBS, execute


def make_actors(*names: str) -> dict[str, dramatiq.Actor]:
    actors = {}
    for name in names:
        spec = JOBS[name]

        def run(run_id: int, _name=name) -> None:
            # The outcome is in the ledger; returning it would make Dramatiq warn on every run that
            # no Results middleware stores it.
            execute(run_id)

        run.__name__ = name
        actors[name] = dramatiq.actor(actor_name=name, queue_name=spec.family,
                                      time_limit=int(spec.time_limit.total_seconds() * 1000))(run)
    return actors
