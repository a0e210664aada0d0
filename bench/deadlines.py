"""Due times per second: ours against the peers a competent engineer would pick, each in its own process.

    .venv/bin/python bench/deadlines.py [--n 1000000] [--rounds 5] [--loop-sample 100000]

All three compute the same three due times (reply due, completion due, end of the return window)
of the same dispatches in 2025–2026 (95 % city tickets: 3 working days; 5 % provincial 接诉即办:
reply in 2, completion in 13; return window 1), from the same working-day data, holidays and
make-up days (调休) both:
- ``ours``: ``worker.rules.compute_deadlines`` (a cumulative working-day table, two lookups a row);
- ``busday``: ``numpy.busday_offset`` with a ``busdaycalendar`` whose weekmask is every day and
  whose holidays are every non-working day (the only way it can express make-up Saturdays), and
  ``roll="backward"`` (a due time counts the working days after the dispatch day);
- ``loop``: a per-ticket loop stepping day by day over ``chinese_calendar.is_workday`` wrapped in
  ``functools.lru_cache`` (the cache one would add: the library spends most of its call checking
  its argument), timed on ``--loop-sample`` tickets.
Rounds are interleaved (ours, busday, loop, ours, …), each run in a fresh process after one warm-up
call; the figures are min / median / max of the rounds.  Every peer's answers are compared with
ours row by row.  Targets (issue 21): ours ≥ 2× busday_offset and ≥ 100× the cached loop.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
EOD = np.timedelta64(86399, "s")


def dataset(n: int):
    rng = np.random.default_rng(1)
    dispatched = np.datetime64("2025-01-01T00:00:00") + rng.integers(0, 700 * 86400, n).astype("timedelta64[s]")
    sources = np.where(rng.random(n) < 0.95, "city", "enterprise_provincial").astype(object)
    return dispatched, sources


def run_ours(dispatched, sources):
    from worker.calendar import load_calendar
    from worker.rules import DeadlineInput, compute_deadlines, load_rules

    cal, rules = load_calendar(), load_rules()
    n = len(dispatched)
    inp = DeadlineInput(dispatched=dispatched, clock_start=dispatched, source=sources,
                        urgent_kind=np.full(n, None, dtype=object), extended_days=np.zeros(n, np.int64),
                        plan_date=np.full(n, np.datetime64("NaT"), dtype="datetime64[D]"))
    return lambda: compute_deadlines(cal, rules, inp)


def run_busday(dispatched, sources):
    from worker.calendar import load_calendar

    cal = load_calendar()   # the same working-day data, handed to numpy as its holidays
    days = np.datetime64(cal.origin, "D") + np.arange(len(cal.is_work))
    calendar = np.busdaycalendar(weekmask="1111111", holidays=days[~cal.is_work])

    def compute():
        day = dispatched.astype("datetime64[D]")
        provincial = sources == "enterprise_provincial"
        completion = np.busday_offset(day, np.where(provincial, 13, 3), roll="backward", busdaycal=calendar)
        reply = np.where(provincial, np.busday_offset(day, 2, roll="backward", busdaycal=calendar),
                         np.datetime64("NaT", "D"))
        back = np.busday_offset(day, 1, roll="backward", busdaycal=calendar)
        return {"reply_due": reply.astype("datetime64[s]") + EOD,
                "completion_due": completion.astype("datetime64[s]") + EOD,
                "return_until": back.astype("datetime64[s]") + EOD}
    return compute


def run_loop(dispatched, sources):
    import chinese_calendar

    from worker.calendar import load_calendar

    cal = load_calendar()   # chinese_calendar's data, with calendar.yaml's years where it has them
    overrides = {d for y, s in cal.sources.items() if s != "chinese-calendar"
                 for d in (date(y, 1, 1) + timedelta(days=i) for i in range(366)) if d.year == y}

    @cache
    def is_workday(day: date) -> bool:
        return cal.is_workday(day) if day in overrides else chinese_calendar.is_workday(day)

    def after(day: date, n: int) -> datetime:
        while n:
            day += timedelta(days=1)
            n -= is_workday(day)
        return datetime.combine(day, datetime.max.time()).replace(microsecond=0)

    starts = dispatched.astype(datetime).tolist()
    kinds = sources.tolist()

    def compute():
        reply, completion, back = [], [], []
        for start, kind in zip(starts, kinds):
            day = start.date()
            provincial = kind == "enterprise_provincial"
            reply.append(after(day, 2) if provincial else None)
            completion.append(after(day, 13 if provincial else 3))
            back.append(after(day, 1))
        return {"reply_due": np.array(reply, dtype="datetime64[s]"),
                "completion_due": np.array(completion, dtype="datetime64[s]"),
                "return_until": np.array(back, dtype="datetime64[s]")}
    return compute


PEERS = {"ours": run_ours, "busday": run_busday, "loop": run_loop}


def worker(name: str, n: int, check: str | None) -> None:
    """One timed run in this process: prints seconds and, with --check, the rows that differ from ours."""
    dispatched, sources = dataset(n)
    compute = PEERS[name](dispatched, sources)
    compute()   # warm: imports, the calendar table, numpy's first calls
    started = time.perf_counter()
    result = compute()
    seconds = time.perf_counter() - started
    differ = None
    if check:
        reference = run_ours(dispatched, sources)()
        differ = int(sum((~((reference[k] == result[k]) | (np.isnat(reference[k]) & np.isnat(result[k])))).sum()
                         for k in reference))
    print(json.dumps({"seconds": seconds, "rows": n, "differ": differ}))


def spawn(name: str, n: int, check: bool) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", name, "--n", str(n), *(["--check"] if check else [])],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--loop-sample", type=int, default=100_000)
    ap.add_argument("--worker")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker, args.n, args.check)
    sizes = {"ours": args.n, "busday": args.n, "loop": args.loop_sample}
    rates: dict[str, list[float]] = {name: [] for name in PEERS}
    differ = {}
    for round_ in range(args.rounds):
        for name in PEERS:
            result = spawn(name, sizes[name], check=round_ == 0 and name != "ours")
            rates[name].append(result["rows"] / result["seconds"])
            if result["differ"] is not None:
                differ[name] = result["differ"]
    print(f"{'three due times per ticket':<34} {'min':>12} {'median':>12} {'max':>12}   tickets/s, {args.rounds} rounds")
    for name, values in rates.items():
        print(f"{name + f' ({sizes[name]:,} tickets)':<34} {min(values):>12,.0f} {statistics.median(values):>12,.0f} "
              f"{max(values):>12,.0f}   rows differing from ours: {differ.get(name, 0)}")
    median = {name: statistics.median(values) for name, values in rates.items()}
    print(f"ours / numpy.busday_offset: {median['ours'] / median['busday']:.1f}x (target ≥ 2x)")
    print(f"ours / lru_cached loop    : {median['ours'] / median['loop']:.0f}x (target ≥ 100x)")


if __name__ == "__main__":
    main()
