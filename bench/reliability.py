"""The fault list, run for real, and what each fault did: messages and slots lost, doubled, stuck.

Runs the fault tests under pytest in a process of their own (``CI=true``: PostgreSQL and Redis are
required, nothing is skipped) with ``HOTLINE_FAULT_REPORT`` set.  Each of them counts what it saw
— Message-IDs the relay received, outbox rows and their states, the run ledger's slots — and
records the counts (``tests/faults.py``) *before* asserting anything; a failed test's counts are
printed too, since they are what the fault did.  Nothing here adds a figure of its own.

    bench/reliability.py              the fault list below
    bench/reliability.py --slow       and the soak (five rounds of scheduler kills)
    bench/reliability.py -- -k relay  extra pytest arguments after --

lost: a message the relay should have received and did not, a slot neither fired nor skipped for
a reason of its own, a poison message dropped without being failed and alerted; doubled: a
Message-ID received twice, a slot run twice, a document or letter stored twice; stuck: a row left
``sending``, a run left ``running`` or ``queued``, a pass that hung, a half-written file.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAULT_TESTS = [
    "tests/test_faults_at_the_edges.py",
    "tests/test_reliability.py::test_a_frozen_holder_of_row_locks_is_cut_off_and_the_takeover_proceeds",
    "tests/test_delivery.py::test_a_recipient_refused_for_good_fails_that_message_and_the_batch_goes_on",
    "tests/test_delivery.py::test_a_relay_that_never_answers_times_out_without_locking_the_database",
    "tests/test_delivery.py::test_two_overlapping_senders_deliver_each_message_once",
    "tests/test_scheduler.py::test_three_scheduler_processes_fire_every_slot_exactly_once",
    "tests/test_scheduler.py::test_redis_restarted_while_schedulers_run",
    "tests/test_worker_faults.py::test_worker_killed_mid_job_is_retried_and_completes_once",
    "tests/test_worker_faults.py::test_postgres_connections_dropped_mid_run",
]
SOAK = "tests/test_scheduler.py::test_scheduler_soak_with_repeated_kills"


def outcomes(junit: Path) -> dict[str, str]:
    """test id → passed | failed | skipped, from pytest's JUnit XML."""
    out = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        path = case.get("classname", "").replace(".", "/") + ".py"
        state = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                state = "failed"
            elif child.tag == "skipped":
                state = "skipped"
        out[f"{path}::{case.get('name')}"] = state
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slow", action="store_true", help="also the scheduler soak (five rounds of kills)")
    parser.add_argument("pytest_args", nargs="*", help="after --: more pytest arguments")
    args = parser.parse_args()
    tests = FAULT_TESTS + ([SOAK] if args.slow else [])
    with tempfile.TemporaryDirectory() as tmp:
        report, junit = Path(tmp) / "faults.jsonl", Path(tmp) / "junit.xml"
        env = dict(os.environ, CI="true", HOTLINE_FAULT_REPORT=str(report))
        started = time.monotonic()
        run = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                              "-m", "" if args.slow else "not slow", f"--junitxml={junit}", *tests, *args.pytest_args],
                             cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        elapsed = time.monotonic() - started
        seen = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()] if report.exists() else []
        states = outcomes(junit) if junit.exists() else {}
    width = max([len(r["fault"]) for r in seen] + [40])
    print(f"{'fault':<{width}}  {'lost':>5} {'doubled':>7} {'stuck':>5}  test")
    totals = [0, 0, 0]
    for r in seen:
        state = states.get(r.get("test", ""), "?")
        print(f"{r['fault']:<{width}}  {r['lost']:>5} {r['doubled']:>7} {r['stuck']:>5}  {state}")
        totals = [t + r[k] for t, k in zip(totals, ("lost", "doubled", "stuck"), strict=True)]
    print(f"{'total (' + str(len(seen)) + ' faults)':<{width}}  {totals[0]:>5} {totals[1]:>7} {totals[2]:>5}")
    counted = {r.get("test") for r in seen}
    silent = sorted(t for t, st in states.items() if t not in counted)
    if silent:
        print(f"other tests run (no counts: checks beside the faults): {', '.join(t.split('::')[-1] for t in silent)}")
    by_state = {s: sum(1 for v in states.values() if v == s) for s in ("passed", "failed", "skipped")}
    print(f"tests: {by_state['passed']} passed, {by_state['failed']} failed, {by_state['skipped']} skipped "
          f"in {elapsed:.0f} s (pytest exit {run.returncode})")
    if run.returncode not in (0, 1):
        print(run.stdout[-3000:], run.stderr[-3000:], file=sys.stderr)
    return 0 if run.returncode == 0 and totals == [0, 0, 0] else 1


if __name__ == "__main__":
    sys.exit(main())
