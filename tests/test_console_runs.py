"""Run durations on the runs page are real (issue 35 item 4: they all read 0.0 秒).

Two causes: a run's start and end were stored in whole seconds (a run under a second lasted 0),
and a replay (``hotline demo``, ``hotline replay``) stored its simulated moment as both start and
end.  Now a run keeps its microseconds, and a replayed run starts at its simulated moment and ends
as long after it as the job really took (what the replay's own report counts)."""
from __future__ import annotations

import re
from collections import Counter
from datetime import datetime

from sqlalchemy import select

from tests import test_web
from tests.test_web import CENTRE, cli

console = test_web.console


def shown(page: str) -> dict[int, str]:
    """Run id → the duration the runs page shows."""
    body = page.split('id="runs"')[1].split("</table>")[0]
    out = {}
    for tr in re.findall(r"<tr>(.*?)</tr>", body, re.DOTALL):
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.DOTALL)]
        if cells and cells[0].isdigit():
            out[int(cells[0])] = next((c for c in cells if c.endswith(" 秒")), "")
    return out


def test_a_run_lasts_as_long_as_it_took_on_the_runs_page(console):
    from worker.db import session_scope
    from worker.models import Run

    assert cli("run", "daily_sheet", "--at", "2026-12-21 09:00", "--inline").exit_code == 0
    with session_scope() as s:
        run = s.scalars(select(Run).where(Run.job == "daily_sheet").order_by(Run.id.desc())).first()
        took = (run.finished_at - run.started_at).total_seconds()
        run_id = run.id
    assert took > 0      # claimed and finished at two different instants, rendering a PDF between
    assert shown(console(CENTRE).get("/runs").text)[run_id] == f"{took:.2f} 秒"


def test_a_replayed_run_lasts_what_the_replay_measured(console):
    from worker.config import load_settings
    from worker.db import session_scope
    from worker.models import Run
    from worker.replay import replay
    from worker.schedules import load

    settings = load_settings()
    with session_scope() as s:
        report = replay(s, load(settings.schedules_file), datetime(2026, 12, 20, 0, 0), datetime(2026, 12, 21, 12, 0),
                        settings, prefix="replay:")
        runs = s.scalars(select(Run).where(Run.schedule.startswith("replay:"), Run.state == "succeeded")).all()
        lasted, started = Counter(), {}
        for r in runs:
            lasted[r.job] += (r.finished_at - r.started_at).total_seconds()
            started[r.id] = (r.started_at, datetime.fromisoformat(r.params["as_of"]))
        ids = [r.id for r in runs]
    assert runs and set(lasted) == set(report.seconds)
    for job, seconds in report.seconds.items():   # stored to the microsecond: equal within that per run
        assert abs(lasted[job] - seconds) <= 1e-6 * len(runs), job
    assert all(at == as_of for at, as_of in started.values())   # started at the simulated moment
    page = shown(console(CENTRE).get("/runs", params={"state": "succeeded"}).text)
    assert any(page[i] != "0.00 秒" for i in ids if i in page)
