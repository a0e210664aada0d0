"""The Dramatiq broker and its middleware, chosen on purpose.

- Redis (``REDIS_URL``) is the broker; an ``amqp://`` URL selects RabbitMQ instead.  Without
  either (the embedded default) a ``StubBroker`` holds the actors and ``--inline`` calls them.
- ``Retries``: only for transient errors (database connection lost, broker or SMTP unavailable),
  with exponential backoff; a bug or bad data fails the run at once and shows in ``hotline runs``.
- ``TimeLimit``: per actor (the job's limit); ``AgeLimit``: a message older than a day is dropped
  (the ledger still shows the run, and the scheduler's sweep re-enqueues what matters).
- Dead-lettered messages stay in Redis's ``dramatiq:<queue>.XQ`` set (``hotline worker --dead``).
- ``Prometheus``: Dramatiq's exporter in ``hotline worker --metrics`` (port ``dramatiq_prom_port``,
  default 9191).
"""
from __future__ import annotations

import os
import smtplib

import dramatiq
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    CurrentMessage,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)
from sqlalchemy.exc import DBAPIError, OperationalError

TRANSIENT = (OperationalError, ConnectionError, TimeoutError, smtplib.SMTPServerDisconnected)


def is_transient(retries: int, exc: Exception) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return retries < 5
    return isinstance(exc, TRANSIENT) and retries < 5


def middleware(prometheus: bool = False) -> list:
    mw = [AgeLimit(max_age=24 * 3600 * 1000), TimeLimit(), ShutdownNotifications(), Callbacks(), Pipelines(),
          Retries(max_retries=5, min_backoff=5_000, max_backoff=300_000, retry_when=is_transient), CurrentMessage()]
    if prometheus:
        from dramatiq.middleware.prometheus import Prometheus
        mw.append(Prometheus())
    return mw


def make_broker(url: str | None = None, prometheus: bool = False):
    url = url if url is not None else os.environ.get("REDIS_URL", "")
    if url.startswith("amqp"):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker
        broker = RabbitmqBroker(url=url, middleware=middleware(prometheus))
    elif url:
        from dramatiq.brokers.redis import RedisBroker
        namespace = os.environ.get("HOTLINE_REDIS_NAMESPACE", "hotline")
        broker = RedisBroker(url=url, namespace=namespace, middleware=middleware(prometheus))
    else:
        from dramatiq.brokers.stub import StubBroker
        broker = StubBroker(middleware=middleware(False))
    return broker


def setup(url: str | None = None, prometheus: bool = False):
    broker = make_broker(url, prometheus=prometheus or os.environ.get("HOTLINE_PROMETHEUS") == "1")
    dramatiq.set_broker(broker)
    return broker
