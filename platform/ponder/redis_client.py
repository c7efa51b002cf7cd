"""Connections to the configured Redis (score cache, outcome log, scorer versions)."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError

from ponder.config import RedisConfig


def connect(config: RedisConfig, blocking_reads_s: float = 0.0) -> Redis:
    """An asyncio client; it connects lazily, so building one never blocks or fails.

    A connection dropped by a Redis restart is retried on a fresh one (3 tries, backoff up
    to 0.5 s) before the caller sees an error. blocking_reads_s: the longest blocking
    command the caller sends (XREADGROUP BLOCK); the socket timeout is raised by that."""
    return Redis.from_url(
        config.connection_url(),
        socket_timeout=config.timeout_s + blocking_reads_s,
        socket_connect_timeout=config.timeout_s,
        health_check_interval=30,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
        retry_on_error=[ConnectionError, TimeoutError],
    )
