"""Prometheus series with our own names, read from the ledger on each scrape.

``hotline scheduler --metrics-port 9192`` serves them (on 127.0.0.1 unless ``--metrics-addr``); the
workers keep Dramatiq's own ``dramatiq_*`` series (``hotline worker --metrics``).  Alert rules for
them: ``deploy/prometheus-alerts.yml``.

- ``hotline_runs{job,state}``: runs in the ledger;
- ``hotline_last_success_timestamp_seconds{schedule}``: when each schedule last succeeded (its runs;
  the parts of a run, supervision's letters, are counted in ``hotline_runs`` only);
- ``hotline_outbox_messages{state}`` and ``hotline_outbox_oldest_waiting_seconds``;
- ``hotline_scheduler_tick_lag_seconds``: how long since this scheduler's last tick;
- ``hotline_import_rows_total{outcome}``: rows read by imports, by outcome (stored, unchanged, refused).
"""
from __future__ import annotations

import time

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import func, select

from .job_names import PARTS
from .models import ImportLog, MessageState, OutboxMessage, Run, RunState
from .times import TZ, now_local


class LedgerCollector:
    def __init__(self, session_factory, last_tick=lambda: None):
        self.factory, self.last_tick = session_factory, last_tick

    def collect(self):
        runs = GaugeMetricFamily("hotline_runs", "Runs in the ledger by job and state", labels=["job", "state"])
        last = GaugeMetricFamily("hotline_last_success_timestamp_seconds", "When each schedule last succeeded",
                                 labels=["schedule"])
        outbox = GaugeMetricFamily("hotline_outbox_messages", "Outbox messages by state", labels=["state"])
        oldest = GaugeMetricFamily("hotline_outbox_oldest_waiting_seconds", "Age of the oldest message waiting")
        rows = CounterMetricFamily("hotline_import_rows", "Rows read by imports, by outcome", labels=["outcome"])
        now = now_local()
        with self.factory() as s:
            for job, state, n in s.execute(select(Run.job, Run.state, func.count()).group_by(Run.job, Run.state)):
                runs.add_metric([job, state], n)
            for schedule, at in s.execute(select(Run.schedule, func.max(Run.finished_at))
                                          .where(Run.state == RunState.SUCCEEDED.value, Run.job.not_in(PARTS))
                                          .group_by(Run.schedule)):
                if at is not None:
                    last.add_metric([schedule], at.replace(tzinfo=TZ).timestamp())
            for state, n in s.execute(select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)):
                outbox.add_metric([state], n)
            waiting = s.scalar(select(func.min(OutboxMessage.created_at))
                               .where(OutboxMessage.state.in_((MessageState.PENDING.value, MessageState.SENDING.value))))
            oldest.add_metric([], (now - waiting).total_seconds() if waiting else 0)
            stored, unchanged, refused = s.execute(select(func.sum(ImportLog.rows_stored), func.sum(ImportLog.rows_unchanged),
                                                          func.sum(ImportLog.rows_refused))).one()
        for outcome, n in (("stored", stored), ("unchanged", unchanged), ("refused", refused)):
            rows.add_metric([outcome], int(n or 0))
        yield from (runs, last, outbox, oldest, rows)
        tick = self.last_tick()
        if tick is not None:
            lag = GaugeMetricFamily("hotline_scheduler_tick_lag_seconds", "Seconds since this scheduler's last tick")
            lag.add_metric([], time.monotonic() - tick)
            yield lag


def serve(session_factory, port: int, addr: str = "127.0.0.1", last_tick=lambda: None):
    """Start the exposition server in a thread; returns the registry."""
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry()
    registry.register(LedgerCollector(session_factory, last_tick))
    start_http_server(port, addr=addr, registry=registry)
    return registry

