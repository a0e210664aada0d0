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
- ``WorkerRegistry``: each worker process announces itself in Redis (``<namespace>:workers:<host>:<pid>``,
  renewed every 10 s while its consumer and worker threads all live, expiring after 30 s), so
  ``hotline doctor`` counts the live workers and ``hotline health worker`` (a container's
  healthcheck) finds this host's.
"""
from __future__ import annotations

import os
import smtplib
import threading
import time

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

from .redis_keys import RedisKeys, decoded

TRANSIENT = (OperationalError, ConnectionError, TimeoutError, smtplib.SMTPServerDisconnected)


def is_transient(retries: int, exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return retries < 5
    return isinstance(exc, TRANSIENT) and retries < 5


class WorkerRegistry(dramatiq.Middleware):
    """Announce each worker process in Redis while it runs (see ``hotline doctor``)."""

    def __init__(self, url: str, keys: RedisKeys, instance: str, every: float = 10.0):
        self.url, self.every = url, every
        self.stop = threading.Event()
        self.key = keys.worker(instance, os.getpid())

    def after_worker_boot(self, broker, worker):
        import redis

        self.client = redis.Redis.from_url(self.url, socket_timeout=5, socket_connect_timeout=5)

        def beat():
            while not self.stop.is_set():
                threads = [*worker.consumers.values(), *worker.workers]
                try:
                    if all(thread.is_alive() for thread in threads):
                        self.client.set(self.key, time.strftime("%Y-%m-%d %H:%M:%S"), ex=int(self.every * 3))
                except redis.RedisError:
                    pass
                self.stop.wait(self.every)

        threading.Thread(target=beat, daemon=True, name="worker-registry").start()

    def before_worker_shutdown(self, broker, worker):
        """Withdrawn at once, not when the key expires: a stopping worker is no longer healthy."""
        import redis

        self.stop.set()
        try:
            self.client.delete(self.key)
        except redis.RedisError:
            pass


def live_workers(url: str, keys: RedisKeys) -> list[str]:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    return sorted(keys.worker_name(decoded(k)) for k in client.scan_iter(keys.workers))


def middleware(prometheus: bool = False) -> list:
    mw = [AgeLimit(max_age=24 * 3600 * 1000), TimeLimit(), ShutdownNotifications(), Callbacks(), Pipelines(),
          Retries(max_retries=5, min_backoff=5_000, max_backoff=300_000, retry_when=is_transient), CurrentMessage()]
    if prometheus:
        from dramatiq.middleware.prometheus import Prometheus
        mw.append(Prometheus())
    return mw


def make_broker(url: str | None = None, prometheus: bool = False) -> dramatiq.Broker:
    url = url if url is not None else os.environ.get("REDIS_URL", "")
    broker: dramatiq.Broker
    if url.startswith("amqp"):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker
        broker = RabbitmqBroker(url=url, middleware=middleware(prometheus))
    elif url:
        from dramatiq.brokers.redis import RedisBroker

        from .config import load_settings

        settings = load_settings()
        broker = RedisBroker(url=url, namespace=settings.redis_namespace,
                             middleware=[*middleware(prometheus),
                                         WorkerRegistry(url, settings.redis_keys, settings.instance)])
    else:
        from dramatiq.brokers.stub import StubBroker
        broker = StubBroker(middleware=middleware(False))
    return broker


def setup(url: str | None = None, prometheus: bool = False):
    broker = make_broker(url, prometheus=prometheus or os.environ.get("HOTLINE_PROMETHEUS") == "1")
    dramatiq.set_broker(broker)
    return broker
