"""How late a job is enqueued after its nominal time: `hotline scheduler` against APScheduler.

    .venv/bin/pip install -c requirements.lock -e '.[bench]'     # APScheduler, for the peer
    .venv/bin/python bench/scheduler.py [--slots 30] [--rounds 2]

A schedule every 2 seconds; each side runs as its own process against the machine's Redis (a fresh
namespace per run) and sends each slot's Dramatiq message there:
- ``ours``: `hotline scheduler` (SQLite ledger, Redis lease), the latency of a slot being the time
  its message was sent (Dramatiq's ``message_timestamp``, in milliseconds) minus its nominal time;
- ``apscheduler``: APScheduler 3's ``BlockingScheduler`` with a ``CronTrigger(second="*/2")`` whose
  job sends the same message — what one would write to put cron in front of Dramatiq — the latency
  being the moment the message is sent minus the slot's nominal time.
Rounds alternate the two (ours, peer, ours, peer); the figures are min / median / p99 / max over
all slots.  Target (issue 21): ours ≤ 1 s after the nominal time at p99.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

PEER = r'''
import json, sys, time
from datetime import datetime
import dramatiq
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from dramatiq.brokers.redis import RedisBroker

url, namespace, slots = sys.argv[1], sys.argv[2], int(sys.argv[3])
broker = RedisBroker(url=url, namespace=namespace)
dramatiq.set_broker(broker)

@dramatiq.actor(queue_name="reports")
def weekly_bulletin(**params):
    pass

scheduler = BlockingScheduler(timezone="Asia/Shanghai")
latencies = []

def fire():
    now = time.time()
    weekly_bulletin.send(as_of=datetime.now().isoformat())
    latencies.append(now - (now // 2) * 2)   # after the even second it was due at
    if len(latencies) >= slots:
        scheduler.shutdown(wait=False)

scheduler.add_job(fire, CronTrigger(second="*/2", timezone="Asia/Shanghai"), misfire_grace_time=5)
scheduler.start()
print(json.dumps(latencies))
'''


def sent_latencies(client, namespace: str) -> list[float]:
    """Each message's send time (Dramatiq's ``message_timestamp``) after the even second it was due at."""
    stamps = sorted(json.loads(body)["message_timestamp"] / 1000 for key in client.scan_iter(f"{namespace}:*.msgs")
                    for body in client.hvals(key))
    return [stamp - (stamp // 2) * 2 for stamp in stamps]


def ours(slots: int, folder: Path, namespace: str, client) -> list[float]:
    schedules = folder / "schedules.yaml"
    schedules.write_text('schedules:\n  - name: every-2s\n    actor: send_outbox\n    cron: "* * * * * */2"\n'
                         "    misfire: skip\n", encoding="utf-8")
    env = dict(os.environ, HOTLINE_VAR=str(folder), DATABASE_URL=f"sqlite:///{folder / 'bench.db'}",
               REDIS_URL=REDIS_URL, HOTLINE_REDIS_NAMESPACE=namespace, HOTLINE_SCHEDULES=str(schedules))
    subprocess.run([sys.executable, "-m", "worker.cli", "init-db"], env=env, cwd=ROOT, check=True, capture_output=True)
    proc = subprocess.Popen([sys.executable, "-m", "worker.cli", "scheduler"], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while len(sent_latencies(client, namespace)) < slots + 1:
            time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    return sent_latencies(client, namespace)[1:slots + 1]   # the first: the slot current at start-up


def apscheduler(slots: int, namespace: str) -> list[float]:
    out = subprocess.run([sys.executable, "-c", PEER, REDIS_URL, namespace, str(slots)], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--slots", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    import redis
    client = redis.Redis.from_url(REDIS_URL)
    per_round = max(1, args.slots // args.rounds)
    results: dict[str, list[float]] = {"ours": [], "apscheduler": []}
    for _ in range(args.rounds):
        for name in results:
            namespace = f"hotline-bench-{uuid.uuid4().hex[:8]}"
            try:
                with tempfile.TemporaryDirectory() as folder:
                    results[name] += (ours(per_round, Path(folder), namespace, client) if name == "ours"
                                      else apscheduler(per_round, namespace))
            finally:
                for key in client.scan_iter(f"{namespace}:*"):
                    client.delete(key)
    print(f"{'seconds after the nominal time':<32} {'min':>7} {'median':>7} {'p99':>7} {'max':>7}   slots")
    for name, values in results.items():
        print(f"{name:<32} {min(values):>7.3f} {statistics.median(values):>7.3f} {p99(values):>7.3f} "
              f"{max(values):>7.3f}   {len(values)}")
    print(f"ours p99 ≤ 1 s: {p99(results['ours']) <= 1.0}")


if __name__ == "__main__":
    main()
