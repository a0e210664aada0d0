"""Deadlines per second: our vectorized ordinal table against a per-ticket loop over chinese-calendar.

    .venv/bin/python bench/deadlines.py [--n 1000000] [--loop-sample 20000]

Both compute "3 or 13 working days after the dispatch date, end of day" for the same random
dispatch times in 2025–2026; the loop is timed on a sample and its rate compared per deadline.
Targets (issue 3): ≥ 1,000,000 deadlines/s and ≥ 100× the loop.
"""
from __future__ import annotations

import argparse
import time
from datetime import datetime, timedelta

import numpy as np

from worker.calendar import load_calendar
from worker.rules import DeadlineInput, compute_deadlines, load_rules


def loop_deadline(start: datetime, n: int):
    import chinese_calendar

    day, left = start.date(), n
    while left:
        day += timedelta(days=1)
        left -= chinese_calendar.is_workday(day)
    return datetime.combine(day, datetime.max.time()).replace(microsecond=0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--loop-sample", type=int, default=20_000)
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    base = np.datetime64("2025-01-01T00:00:00")
    dispatched = base + rng.integers(0, 700 * 86400, args.n).astype("timedelta64[s]")
    sources = np.where(rng.random(args.n) < 0.95, "city", "enterprise_provincial").astype(object)
    cal, rules = load_calendar(), load_rules()
    inp = DeadlineInput(dispatched=dispatched, clock_start=dispatched, source=sources,
                        urgent_kind=np.full(args.n, None, dtype=object), extended_days=np.zeros(args.n, np.int64),
                        plan_date=np.full(args.n, np.datetime64("NaT"), dtype="datetime64[D]"))
    compute_deadlines(cal, rules, inp)                     # warm
    t = time.perf_counter()
    out = compute_deadlines(cal, rules, inp)
    ours = time.perf_counter() - t
    sample = args.loop_sample
    starts = dispatched[:sample].astype(datetime)
    t = time.perf_counter()
    loop = [loop_deadline(s, 3 if src == "city" else 13) for s, src in zip(starts, sources[:sample])]
    theirs = time.perf_counter() - t
    mismatches = sum(a != b for a, b in zip(loop, out["completion_due"][:sample].astype(datetime)))
    ours_rate, loop_rate = args.n / ours, sample / theirs
    print(f"vectorized ordinal table : {args.n:>9,} deadlines (reply, completion, return window) in {ours:.3f} s"
          f" = {ours_rate:,.0f} deadlines/s")
    print(f"per-ticket chinese-calendar loop: {sample:>9,} completion deadlines in {theirs:.3f} s"
          f" = {loop_rate:,.0f} deadlines/s")
    print(f"ratio: {ours_rate / loop_rate:,.0f}x (target ≥ 100x); ours ≥ 1,000,000/s: {ours_rate >= 1_000_000}")
    print(f"agreement on the sample: {sample - mismatches}/{sample} identical completion due times")


if __name__ == "__main__":
    main()
