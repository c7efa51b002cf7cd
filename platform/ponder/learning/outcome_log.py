"""The durable outcome log in Redis (AOF on), keyed by reasoning id.

- At answer time the planner writes the reasoning record (every candidate path's features,
  score, whether it was chosen, the scorer version) once, to a key that expires after the
  retention period, within its tenant's storage quota, and appends who reasoned when to
  the `reasonings` stream (the audit log).
- ReportOutcome joins the label to the record in one Lua script (atomic): it stores the
  outcome under the reasoning id (a retry finds it and is acknowledged without a second
  log entry) and appends record + outcome to the `outcomes` stream.
- The learner reads the `outcomes` stream through a consumer group and acknowledges an
  entry in the same MULTI/EXEC as the model state it produced (see learner.py), so a crash
  neither loses nor double-applies an outcome.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from ponder.errors import AlreadyExists, NotFound, ResourceExhausted
from ponder.learning.records import Outcome, ReasoningRecord, now_ms

LEARNER_GROUP = "learner"

# KEYS: record, reasonings stream, the tenant's usage buckets (the current one first).
# ARGV: record json, ttl s, oldest stream id to keep, reasoning id, tenant, the tenant's
# quota in bytes (0: none), a usage bucket's ttl s. A record is stored once, under its key
# (NX: an id can never be replaced); the stream keeps only who reasoned when. The
# `#!lua` line makes Redis refuse the whole script while it is out of memory, instead of
# failing halfway. Returns 1 written, 0 id taken, -1 the tenant's quota is used up.
_RECORD = """#!lua
local size = string.len(ARGV[1])
local quota = tonumber(ARGV[6])
if quota > 0 then
  local used = 0
  for i = 3, #KEYS do used = used + (tonumber(redis.call('GET', KEYS[i])) or 0) end
  if used + size > quota then return -1 end
end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return 0 end
redis.call('XADD', KEYS[2], 'MINID', '~', ARGV[3], '*', 'reasoning_id', ARGV[4], 'tenant', ARGV[5])
redis.call('INCRBY', KEYS[3], size)
redis.call('EXPIRE', KEYS[3], ARGV[7])
return 1
"""

# KEYS: record, outcome, outcomes stream, reported counter, the reporter's scope's
# reported counter. ARGV: outcome json, ttl s, the reporter's tenant, the reporter's
# scope. The tenant is checked before anything is written: another tenant's reasoning
# is answered exactly like an unknown one; nothing is stored or queued. The scope's
# counter counts the report when the reasoning was made in that scope (every key is
# declared: the script runs on a Redis Cluster slot or a proxy as well).
# Returns {0} not found, {1, record} logged, {2, earlier outcome json} already reported.
# Refused whole while Redis is out of memory (`#!lua`): an outcome is either logged and
# acknowledged or neither.
_REPORT = """#!lua
local record = redis.call('GET', KEYS[1])
if not record then return {0} end
local fields = cjson.decode(record)
if (fields['tenant'] or '') ~= ARGV[3] then return {0} end
local earlier = redis.call('GET', KEYS[2])
if earlier then return {2, earlier} end
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
redis.call('XADD', KEYS[3], '*', 'record', record, 'outcome', ARGV[1])
redis.call('INCR', KEYS[4])
if (fields['scope'] or '') == ARGV[4] then redis.call('INCR', KEYS[5]) end
return {1, record}
"""


@dataclass(frozen=True)
class Keys:
    """Every Redis key Ponder's learning uses, under one prefix."""

    prefix: str = "ponder"

    def reasoning(self, reasoning_id: str) -> str:
        return f"{self.prefix}:reasoning:{reasoning_id}"

    def usage(self, tenant: str, bucket: int) -> str:
        """Bytes of reasoning records a tenant stored in one time bucket."""
        return f"{self.prefix}:usage:{tenant or '-'}:{bucket}"

    def outcome(self, reasoning_id: str) -> str:
        return f"{self.prefix}:outcome:{reasoning_id}"

    @property
    def reasonings_stream(self) -> str:
        return f"{self.prefix}:log:reasonings"

    @property
    def outcomes_stream(self) -> str:
        return f"{self.prefix}:log:outcomes"

    @property
    def dead_letters(self) -> str:
        """Outcomes the learner could not apply, with the reason, for an operator."""
        return f"{self.prefix}:log:dead-letters"

    @property
    def reported(self) -> str:
        return f"{self.prefix}:outcomes:reported"

    def reported_in(self, scope: str) -> str:
        """Outcomes reported on reasonings of one scope."""
        return f"{self.reported}:{scope}"

    @property
    def learner_state(self) -> str:
        return f"{self.prefix}:learner:state"

    def holdout(self, scope: str) -> str:
        return f"{self.prefix}:learner:{scope}:holdout"

    def scorer(self, scope: str, part: str) -> str:
        return f"{self.prefix}:scorer:{scope}:{part}"

    @property
    def scorer_scopes(self) -> str:
        return f"{self.prefix}:scorer:scopes"

    def ranker(self, scope: str, part: str) -> str:
        return f"{self.prefix}:ranker:{scope}:{part}"

    @property
    def ranker_scopes(self) -> str:
        return f"{self.prefix}:ranker:scopes"

    def ranker_examples(self, scope: str, held_back: bool) -> str:
        """A scope's ranker examples: those it trains on, or the held-back ones."""
        return self.ranker(scope, "heldout" if held_back else "train")

    def ranker_count(self, scope: str, held_back: bool) -> str:
        """How many examples were ever appended there (the lists are capped)."""
        return self.ranker(scope, "heldout-count" if held_back else "train-count")


@dataclass(frozen=True)
class ReportAck:
    duplicate: bool
    record: ReasoningRecord


@dataclass(frozen=True)
class LogEntry:
    entry_id: str
    record: ReasoningRecord
    outcome: Outcome


def stream_id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


# A tenant's stored bytes are counted in buckets of retention / USAGE_BUCKETS; a record
# counts until its bucket and the USAGE_BUCKETS after it are over (at least its retention).
USAGE_BUCKETS = 8


class OutcomeLog:
    def __init__(
        self,
        client: Redis,
        retention_s: int,
        keys: Keys | None = None,
        tenant_quota_bytes: int = 0,
    ) -> None:
        self._client = client
        self._retention_s = retention_s
        self._quota = tenant_quota_bytes
        self._bucket_s = max(1, math.ceil(retention_s / USAGE_BUCKETS))
        self.keys = keys or Keys()
        self._report = client.register_script(_REPORT)
        self._record = client.register_script(_RECORD)
        self.dead_lettered = 0  # entries this process moved to the dead-letter stream

    async def record(self, record: ReasoningRecord) -> None:
        """Log a reasoning at answer time; its id must be new (AlreadyExists otherwise) and
        its tenant within its storage quota (ResourceExhausted otherwise)."""
        now = now_ms()
        oldest = max(0, now - self._retention_s * 1000)
        bucket = now // 1000 // self._bucket_s
        usage = [self.keys.usage(record.tenant, bucket - i) for i in range(USAGE_BUCKETS + 1)]
        written = int(
            await self._record(
                keys=[
                    self.keys.reasoning(record.reasoning_id),
                    self.keys.reasonings_stream,
                    *usage,
                ],
                args=[
                    record.to_json(),
                    self._retention_s,
                    oldest,
                    record.reasoning_id,
                    record.tenant,
                    self._quota,
                    self._bucket_s * (USAGE_BUCKETS + 1),
                ],
            )
        )
        if written == -1:
            raise ResourceExhausted(
                f"tenant {record.tenant!r} has stored its quota of reasonings "
                f"({self._quota} bytes per {self._retention_s} s); this one is not reportable"
            )
        if not written:
            raise AlreadyExists(f"reasoning_id {record.reasoning_id!r} is taken")

    async def get_record(self, reasoning_id: str) -> ReasoningRecord:
        data = await self._client.get(self.keys.reasoning(reasoning_id))
        if data is None:
            raise NotFound(f"reasoning_id {reasoning_id!r} is unknown or has expired")
        return ReasoningRecord.from_json(data)

    async def get_outcome(self, reasoning_id: str) -> Outcome | None:
        data = await self._client.get(self.keys.outcome(reasoning_id))
        return None if data is None else Outcome.from_json(data)

    async def report(self, outcome: Outcome, tenant: str, scope: str = "") -> ReportAck:
        """Join an outcome to its reasoning, which must be the reporting tenant's (an
        unknown id otherwise); idempotent for a retried identical report. `scope`: the
        reporter's (GetScorer's reported count of that scope counts it)."""
        rid = outcome.reasoning_id
        result = await self._report(
            keys=[
                self.keys.reasoning(rid),
                self.keys.outcome(rid),
                self.keys.outcomes_stream,
                self.keys.reported,
                self.keys.reported_in(scope),
            ],
            args=[outcome.to_json(), self._retention_s, tenant, scope],
        )
        status = int(result[0])
        if status == 0:
            raise NotFound(f"reasoning_id {rid!r} is unknown or has expired")
        if status == 2:
            earlier = Outcome.from_json(result[1])
            if not earlier.same_report(outcome):
                raise AlreadyExists(
                    f"reasoning_id {rid!r} already has a different outcome; "
                    "outcomes cannot be changed"
                )
            return ReportAck(True, await self.get_record(rid))
        return ReportAck(False, ReasoningRecord.from_json(result[1]))

    # -- the learner's side ----------------------------------------------------------------

    async def ensure_group(self) -> None:
        try:
            await self._client.xgroup_create(
                self.keys.outcomes_stream, LEARNER_GROUP, id="0", mkstream=True
            )
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    async def read(
        self, consumer: str, count: int, block_ms: int | None, pending: bool
    ) -> list[LogEntry]:
        """Entries delivered to this consumer but not acknowledged (pending=True: what a
        crashed predecessor left), or new ones."""
        response: Any = await self._client.xreadgroup(
            LEARNER_GROUP,
            consumer,
            {self.keys.outcomes_stream: "0" if pending else ">"},
            count=count,
            block=None if pending else block_ms,
        )
        entries = []
        gone = []
        for _stream, items in response or []:
            for entry_id, fields in items:
                if not fields:  # trimmed away (past retention) while pending: clear it
                    gone.append(entry_id)
                    continue
                try:
                    entries.append(
                        LogEntry(
                            text(entry_id),
                            ReasoningRecord.from_json(fields[b"record"]),
                            Outcome.from_json(fields[b"outcome"]),
                        )
                    )
                except (KeyError, TypeError, ValueError) as error:  # unreadable: never will be
                    await self.dead_letter(text(entry_id), fields, f"unreadable: {error!r}")
                    self.dead_lettered += 1
        if gone:
            await self._client.xack(self.keys.outcomes_stream, LEARNER_GROUP, *gone)
        return entries

    async def dead_letter(self, entry_id: str, fields: dict[Any, Any], reason: str) -> None:
        """Move one entry to the dead-letter stream and acknowledge it, atomically."""
        async with self._client.pipeline(transaction=True) as pipe:
            self.stage_dead_letter(pipe, entry_id, fields, reason)
            pipe.xack(self.keys.outcomes_stream, LEARNER_GROUP, entry_id)
            await pipe.execute()

    def stage_dead_letter(
        self, pipe: Any, entry_id: str, fields: dict[Any, Any], reason: str
    ) -> None:
        """Copy an entry to the dead-letter stream (inside the caller's transaction)."""
        pipe.xadd(
            self.keys.dead_letters,
            {**fields, "entry_id": entry_id, "reason": reason[:500], "at_ms": now_ms()},
        )

    def stage_ack(self, pipe: Any, entry_ids: list[str], trim_below: str | None) -> None:
        """Acknowledge (inside the learner's transaction); drop entries older than the
        retention that were applied already."""
        if entry_ids:
            pipe.xack(self.keys.outcomes_stream, LEARNER_GROUP, *entry_ids)
        if trim_below is not None:
            oldest = max(0, now_ms() - self._retention_s * 1000)
            minid = min(stream_id(trim_below), (oldest, 0))
            pipe.xtrim(self.keys.outcomes_stream, minid=f"{minid[0]}-{minid[1]}", approximate=True)

    async def reported_count(self, scope: str | None = None) -> int:
        """Outcomes reported, on every scope (None) or on one."""
        key = self.keys.reported if scope is None else self.keys.reported_in(scope)
        return int(await self._client.get(key) or 0)

    async def pending_count(self) -> int:
        """Outcomes logged but not yet applied: undelivered plus delivered-unacknowledged."""
        try:
            groups = await self._client.xinfo_groups(self.keys.outcomes_stream)
        except ResponseError:
            return 0
        for group in groups:
            if text(group["name"]) == LEARNER_GROUP:
                lag = group.get("lag")
                return int(group["pending"]) + int(lag or 0)
        return 0


def text(value: bytes | str) -> str:
    """A Redis reply as str (clients return bytes)."""
    return value.decode() if isinstance(value, bytes) else value
