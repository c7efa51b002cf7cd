"""The Redis user Ponder connects as: only the commands Ponder sends, only its own keys.

`ponder` may run the reads and writes of the score cache, the outcome log and its
streams, the rate-limit buckets and the version registries, on keys under `ponder:` only:
no administrative command (ACL, CONFIG, FUNCTION, SCRIPT FLUSH/KILL, SHUTDOWN, FLUSHALL,
KEYS, …) and no DEL but on the one kind of key Ponder deletes (a registry's candidate
version). Commands inside Lua scripts are checked against the same list.

Nobody can log in as the default user: its password is a random hash whose preimage is
never kept. It stays on, with every right, only because Redis 7.0 replays the AOF as the
default user and drops the MULTI/EXEC blocks that user may not run (a test restarts Redis
and finds every acknowledged write). The local redis-server (`redis_server.py`) and the
Kubernetes StatefulSet (`k8s/base/redis.yaml`, which writes the same lines at start) use
this; a unit test keeps the two equal.
"""

from __future__ import annotations

import hashlib
import secrets

USERNAME = "ponder"
KEY_PATTERN = "ponder:*"

# Every command Ponder's code sends (the client library's CLIENT SETINFO at connect is
# refused and ignored by it);
# a test runs the platform against a Redis that allows nothing else.
ALLOWED_COMMANDS = (
    # connection
    "ping", "echo", "hello", "select", "info",
    # strings, hashes, lists, sets
    "get", "set", "mget", "exists", "incr", "incrby", "expire", "pexpire", "ttl",
    "hget", "hmget", "hset", "hsetnx", "hvals", "hgetall",
    "rpush", "lrange", "ltrim", "llen",
    "sadd", "smembers", "scan",
    # streams (the outcome log)
    "xadd", "xack", "xreadgroup", "xgroup|create", "xinfo|groups", "xtrim", "xlen",
    "xrange", "xpending",
    # transactions and scripts
    "watch", "unwatch", "multi", "exec", "discard", "eval", "evalsha", "script|load",
    "script|exists", "time",
)  # fmt: skip

# The only keys Ponder deletes: a version registry's pending candidate.
DELETABLE_PATTERNS = (
    "ponder:scorer:*:candidate",
    "ponder:ranker:*:candidate",
    "ponder:model:*:candidate",
)


def rule_body() -> str:
    """The ACL rule's permissions (everything after `user ponder on <password>`)."""
    commands = " ".join(f"+{command}" for command in ALLOWED_COMMANDS)
    deletable = " ".join(f"~{pattern}" for pattern in DELETABLE_PATTERNS)
    return f"resetkeys ~{KEY_PATTERN} resetchannels -@all {commands} ({deletable} +del)"


def acl_config_lines(password: str) -> list[str]:
    """ACL lines: the default user locked, Ponder's user (its password kept as a SHA-256)."""
    digest = hashlib.sha256(password.encode()).hexdigest()
    locked = secrets.token_hex(32)  # a "hash" of nothing anyone knows
    return [f"user default on #{locked} ~* &* +@all", f"user {USERNAME} on #{digest} {rule_body()}"]
