"""Connections to the configured Redis (score cache, outcome log, scorer versions)."""

from __future__ import annotations

from redis.asyncio import Redis

from ponder.config import RedisConfig


def connect(config: RedisConfig, blocking_reads_s: float = 0.0) -> Redis:
    """An asyncio client; it connects lazily, so building one never blocks or fails.

    blocking_reads_s: the longest blocking command the caller sends (XREADGROUP BLOCK);
    the socket timeout is raised by that much."""
    return Redis.from_url(
        config.connection_url(),
        socket_timeout=config.timeout_s + blocking_reads_s,
        socket_connect_timeout=config.timeout_s,
        health_check_interval=30,
    )
