"""Every Redis key the service names, from one namespace (``HOTLINE_REDIS_NAMESPACE``, read with the
other settings in ``worker/config.py``): the scheduler's lease and last tick, the health keys, the
worker registry, and Dramatiq's own queue keys (its layout: ``<namespace>:<queue>.msgs``, dead letters
in ``<namespace>:<queue>.XQ``).  Several deployments share one Redis by their namespaces."""
from __future__ import annotations

from dataclasses import dataclass


def decoded(value: bytes | str) -> str:
    """A key or value as text: the service's clients answer bytes (no ``decode_responses``), which
    the client's types do not know."""
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True)
class RedisKeys:
    namespace: str = "hotline"

    @property
    def lease(self) -> str:
        """The active scheduler replica's token and schedules version."""
        return f"{self.namespace}:scheduler:leader"

    @property
    def last_tick(self) -> str:
        """When the active replica last ticked (``hotline doctor``)."""
        return f"{self.namespace}:scheduler:last_tick"

    def alive(self, role: str, host: str) -> str:
        """Where a process of ROLE on HOST says it is alive (``hotline health``)."""
        return f"{self.namespace}:alive:{role}:{host}"

    def worker(self, host: str, pid: int) -> str:
        """A worker process's entry in the registry."""
        return f"{self.namespace}:workers:{host}:{pid}"

    @property
    def workers(self) -> str:
        """The pattern of every worker's entry; ``worker_name`` reads one back."""
        return f"{self.namespace}:workers:*"

    def worker_name(self, key: str) -> str:
        return key.removeprefix(f"{self.namespace}:workers:")

    def queue_messages(self, queue: str) -> str:
        """Dramatiq's hash of the messages of QUEUE not yet acknowledged."""
        return f"{self.namespace}:{queue}.msgs"

    @property
    def dead_letters(self) -> str:
        """The pattern of Dramatiq's dead-letter sets, one a queue."""
        return f"{self.namespace}:*.XQ"
